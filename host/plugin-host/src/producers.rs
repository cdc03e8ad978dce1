//! What a component says it was built with: the `producers` custom sections
//! (language, processed-by, sdk) that toolchains write into WebAssembly
//! binaries, read from the component and the core modules nested in it. For
//! `prism plugin inspect` and `list`; nothing depends on it being present.

/// `(field, name, version)`, e.g. `("language", "Rust", "")`,
/// `("processed-by", "rustc", "1.95.0")`, without repeats, in the order found.
pub type Producers = Vec<(String, String, String)>;

/// Binaries nest at most this deep (a component holding components holding
/// modules); deeper is not a plugin worth describing.
const MAX_DEPTH: u32 = 4;

/// The producers a component (or module) binary names; empty when it names
/// none or cannot be read.
pub fn read(binary: &[u8]) -> Producers {
    let mut found = Producers::new();
    walk(binary, 0, &mut found);
    found
}

fn walk(binary: &[u8], depth: u32, found: &mut Producers) -> Option<()> {
    if depth > MAX_DEPTH || binary.get(..4)? != b"\0asm" {
        return None;
    }
    // Magic, then a version/layer word: 1 for modules, 0x1000d for components.
    let is_component = binary.get(6..8)? == [1, 0];
    let mut reader = Reader {
        bytes: binary,
        at: 8,
    };
    while reader.at < binary.len() {
        let id = reader.byte()?;
        let size = reader.leb()? as usize;
        let body = reader.take(size)?;
        match id {
            0 => {
                let mut custom = Reader { bytes: body, at: 0 };
                if custom.name()? == "producers" {
                    producers(&mut custom, found);
                }
            }
            // Nested core modules (1) and components (4) in a component.
            1 | 4 if is_component => {
                walk(body, depth + 1, found);
            }
            _ => {}
        }
    }
    Some(())
}

fn producers(r: &mut Reader<'_>, found: &mut Producers) -> Option<()> {
    for _ in 0..r.leb()?.min(16) {
        let field = r.name()?.to_string();
        for _ in 0..r.leb()?.min(64) {
            let entry = (field.clone(), r.name()?.to_string(), r.name()?.to_string());
            if !found.contains(&entry) {
                found.push(entry);
            }
        }
    }
    Some(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn leb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }

    fn name(&mut self) -> Option<&'a str> {
        let n = self.leb()? as usize;
        std::str::from_utf8(self.take(n)?).ok()
    }
}

/// One line for people: `Rust; rustc 1.95.0, wit-component 0.239.0`.
pub fn describe(producers: &Producers) -> Option<String> {
    let of = |field: &str| -> Vec<String> {
        producers
            .iter()
            .filter(|(f, _, _)| f == field)
            .map(|(_, name, version)| {
                if version.is_empty() {
                    name.clone()
                } else {
                    format!("{name} {version}")
                }
            })
            .collect()
    };
    let languages = of("language");
    let tools: Vec<String> = of("processed-by").into_iter().chain(of("sdk")).collect();
    match (languages.is_empty(), tools.is_empty()) {
        (true, true) => None,
        (false, true) => Some(languages.join(", ")),
        (true, false) => Some(tools.join(", ")),
        (false, false) => Some(format!("{}; {}", languages.join(", "), tools.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leb(n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut n = n as u64;
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn name(s: &str) -> Vec<u8> {
        [leb(s.len()), s.as_bytes().to_vec()].concat()
    }

    fn section(id: u8, body: &[u8]) -> Vec<u8> {
        [vec![id], leb(body.len()), body.to_vec()].concat()
    }

    fn producers_section(fields: &[(&str, &[(&str, &str)])]) -> Vec<u8> {
        let mut body = name("producers");
        body.extend(leb(fields.len()));
        for (field, entries) in fields {
            body.extend(name(field));
            body.extend(leb(entries.len()));
            for (n, v) in *entries {
                body.extend(name(n));
                body.extend(name(v));
            }
        }
        section(0, &body)
    }

    #[test]
    fn producers_are_read_from_nested_modules() {
        let module = [
            b"\0asm\x01\0\0\0".to_vec(),
            producers_section(&[
                ("language", &[("Rust", "")]),
                ("processed-by", &[("rustc", "1.95.0")]),
            ]),
        ]
        .concat();
        let component = [
            b"\0asm\x0d\0\x01\0".to_vec(),
            section(1, &module),
            producers_section(&[("processed-by", &[("wit-component", "0.239.0")])]),
        ]
        .concat();
        let found = read(&component);
        assert_eq!(
            describe(&found).as_deref(),
            Some("Rust; rustc 1.95.0, wit-component 0.239.0")
        );
    }

    #[test]
    fn garbage_names_nothing() {
        for bytes in [
            &b""[..],
            b"\0asm",
            b"\0asm\x0d\0\x01\0\x00\xff\xff",
            b"not wasm",
        ] {
            assert_eq!(read(bytes), Producers::new());
        }
    }
}
