//! What a plugin instance runs inside: WASI with nothing granted, a memory cap
//! and an epoch deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Engine, ResourceLimiter};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// How often the engine's epoch advances; deadlines are counted in these.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits every plugin call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Longest a single call (configure, authenticate, authorize) may run.
    pub call_timeout: Duration,
    /// Most linear memory one instance may have.
    pub memory_bytes: usize,
    /// Most calls of one plugin running at once, each in an instance of its
    /// own; `None`: one per core. One makes a plugin that keeps state (a
    /// quota, say) see every call in the same instance.
    pub instances: Option<u32>,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        // bcrypt at cost 12 takes ~0.3 s inside wasmtime on these machines; a
        // 2 s deadline leaves room for cost 13-14 and a loaded host.
        SandboxLimits {
            call_timeout: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            instances: None,
        }
    }
}

impl SandboxLimits {
    pub(crate) fn deadline_ticks(&self) -> u64 {
        (self.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64 + 1
    }
}

/// Store data of one plugin instance.
pub struct Sandbox {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) memory: MemoryCap,
}

impl Sandbox {
    pub(crate) fn new(limits: &SandboxLimits) -> Self {
        // No preopened directories, no environment, no arguments, no stdio,
        // and WASI's defaults deny every socket address and name lookup.
        Sandbox {
            wasi: WasiCtxBuilder::new().build(),
            table: ResourceTable::new(),
            memory: MemoryCap {
                max_bytes: limits.memory_bytes,
                exceeded: false,
                reserved: 0,
            },
        }
    }
}

impl WasiView for Sandbox {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Refuses memory growth past the cap and remembers that it did, so the
/// resulting trap can be reported as what it is.
pub(crate) struct MemoryCap {
    max_bytes: usize,
    pub(crate) exceeded: bool,
    /// Linear memory the instance holds, all its memories together.
    pub(crate) reserved: usize,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.exceeded = true;
            return Ok(false);
        }
        self.reserved += desired.saturating_sub(current);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("prism-plugin-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })?;
        Ok(EpochTicker { stop })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
