//! Any bytes as a pin table: refused with a reason, or read; a table read and written again
//! reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pins) = cd_workflows::pins::Pins::parse(text) {
        let again = cd_workflows::pins::Pins::parse(&pins.to_toml());
        assert_eq!(again.as_ref().ok(), Some(&pins));
    }
});
