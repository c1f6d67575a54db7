//! Configuration file (TOML). Unknown keys are rejected so that a typo
//! never silently leaves a default in place.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::decode::DecoderConfig;
use crate::detect::DEFAULT_MAX_SESSIONS;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Name of this sensor, copied into alerts and metrics.
    pub sensor: String,
    /// Decoder settings: UDP ports per encapsulation, nesting depth.
    pub decode: DecoderConfig,
    /// Session inventory settings.
    pub inventory: InventoryConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct InventoryConfig {
    /// Most sessions kept; the least recently seen are evicted beyond it.
    pub max_sessions: usize,
}

impl Default for InventoryConfig {
    fn default() -> Self {
        InventoryConfig {
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            sensor: "mirrorwatch".to_owned(),
            decode: DecoderConfig::default(),
            inventory: InventoryConfig::default(),
        }
    }
}

/// A configuration file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses TOML text; `origin` names it in errors (field and line come
    /// from the TOML parser).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Invalid {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        cfg.validate().map_err(|message| ConfigError::Invalid {
            path: origin.to_owned(),
            message,
        })?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), String> {
        let d = &self.decode;
        if d.max_depth == 0 || d.max_depth > 32 {
            return Err(format!(
                "decode.max_depth = {}: must be between 1 and 32",
                d.max_depth
            ));
        }
        if self.inventory.max_sessions == 0 {
            return Err("inventory.max_sessions must be at least 1".to_owned());
        }
        let lists = [
            ("decode.vxlan_ports", &d.vxlan_ports),
            ("decode.vxlan_gpe_ports", &d.vxlan_gpe_ports),
            ("decode.geneve_ports", &d.geneve_ports),
            ("decode.tzsp_ports", &d.tzsp_ports),
            ("decode.gre_udp_ports", &d.gre_udp_ports),
        ];
        for (i, (name_a, a)) in lists.iter().enumerate() {
            for (name_b, b) in &lists[i + 1..] {
                if let Some(p) = a.iter().find(|p| b.contains(p)) {
                    return Err(format!("UDP port {p} is in both {name_a} and {name_b}"));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c = Config::parse("", "t").expect("empty is default");
        assert_eq!(c, Config::default());
        let c = Config::parse("[decode]\nvxlan_ports = [4789, 8472, 10000]\n", "t").expect("ok");
        assert_eq!(c.decode.vxlan_ports, [4789, 8472, 10000]);
        assert_eq!(c.decode.geneve_ports, [6081]);
    }

    #[test]
    fn unknown_key_names_field_and_line() {
        let e = Config::parse("sensor = \"a\"\n[decode]\nvxlan_port = [1]\n", "my.toml")
            .expect_err("typo rejected")
            .to_string();
        assert!(e.starts_with("my.toml: "), "{e}");
        assert!(e.contains("vxlan_port") && e.contains("line 3"), "{e}");
    }

    #[test]
    fn overlapping_ports_rejected() {
        let e = Config::parse("[decode]\ngeneve_ports = [4789]\n", "t")
            .expect_err("overlap")
            .to_string();
        assert!(e.contains("4789"), "{e}");
    }
}
