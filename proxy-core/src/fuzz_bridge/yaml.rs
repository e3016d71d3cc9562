//! The YAML loaders: configuration, policy, redaction rules.

use crate::config::Config;
use crate::policy::Policy;

/// `Config::from_yaml` (then `validate`), `Policy::from_yaml` and
/// `redact::RulesFile::from_yaml` (then `validate`) on arbitrary text: never panic, and
/// every refusal names at least one problem.
pub fn config_policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = Config::from_yaml(&text)
        && let Err(err) = config.validate()
    {
        assert!(!err.problems().is_empty());
    }
    if let Err(err) = Policy::from_yaml(&text) {
        assert!(!err.to_string().is_empty());
    }
    if let Ok(rules) = redact::RulesFile::from_yaml(&text) {
        let _ = rules.validate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_load_without_panicking() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples");
        for entry in std::fs::read_dir(dir).unwrap() {
            config_policy(&std::fs::read(entry.unwrap().path()).unwrap());
        }
        config_policy(b"listen: [\n");
        config_policy(b"rules:\n- id: x\n  regex: '('\n");
    }
}
