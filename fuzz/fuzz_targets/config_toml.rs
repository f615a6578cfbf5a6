//! Any text as the services' TOML configuration file: refused with the line and the reason, or
//! read and then checked, never a panic; what is read and checked prints back readably.
#![no_main]

use cd_service::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::from_toml_with("cd.toml", text, &["pubsub", "github"]) {
        Ok(config) => {
            if config.check().is_ok() {
                let _ = format!("{:?}", config.redacted());
            }
        }
        Err(e) => {
            assert_eq!(e.source_name, "cd.toml");
            assert!(!e.reason.is_empty());
        }
    }
    let _ = cd_service::config::sections::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(
        "cd.toml",
        text,
        &["pubsub", "github"],
    );
});
