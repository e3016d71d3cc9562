//! `redactor`: see `redact::fuzzing::check` — chunked equals whole, no planted secret
//! survives. The redactor is built once.
#![no_main]

use std::sync::OnceLock;

fn redactor() -> &'static redact::Redactor {
    static REDACTOR: OnceLock<redact::Redactor> = OnceLock::new();
    REDACTOR.get_or_init(redact::fuzzing::redactor)
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| redact::fuzzing::check(redactor(), data));
