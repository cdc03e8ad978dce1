//! Prism plugin SDK. Skeleton: the plugin platform (WIT, SDK, built-in providers) lands with issue 3.
