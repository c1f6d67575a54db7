//! Azure Activity Log: virtual network TAPs and NIC TAP configurations.
//!
//! Both export shapes are read: the Activity Log event schema (REST API,
//! portal export: `operationName: {"value": ...}`, `status: {"value":
//! ...}`, `caller`, `eventTimestamp`, `subscriptionId`) and the
//! resource-log schema used by diagnostic settings (storage / Event Hub:
//! `operationName` string, `resultType`, `time`, `identity.claims`).
//!
//! One operation logs several records (`Started`, `Accepted`,
//! `Succeeded`/`Failed`). Only those statuses (or no status at all) are
//! kept, and file reading keeps one event per operation: the record with
//! the most final status replaces earlier ones (see [`fold_key`]).

use super::json::{at, find, path_segment_after, str_at, str_or_value_at};
use super::timefmt::parse_rfc3339_us;
use super::{Action, ConfigEvent, Ingested, Platform, ResourceKind};
use serde_json::Value;

/// Longest embedded request/response body parsed for destinations.
const MAX_BODY: usize = 1 << 20;

pub(crate) fn is_azure(v: &Value) -> bool {
    str_or_value_at(v, &["operationName"]).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    VirtualNetworkTap,
    TapConfiguration,
}

fn classify(op: &str) -> Option<(Resource, bool)> {
    let lower = op.to_ascii_lowercase();
    let (res, verb) = if let Some(v) = lower.strip_prefix("microsoft.network/virtualnetworktaps/") {
        (Resource::VirtualNetworkTap, v)
    } else if let Some(v) =
        lower.strip_prefix("microsoft.network/networkinterfaces/tapconfigurations/")
    {
        (Resource::TapConfiguration, v)
    } else {
        return None;
    };
    match verb {
        "write" => Some((res, false)),
        "delete" => Some((res, true)),
        _ => None,
    }
}

/// Lower-cased status (`started`, `accepted`, `succeeded`, `failed`, ...).
fn status(v: &Value) -> Option<String> {
    str_or_value_at(v, &["status"])
        .or_else(|| str_at(v, &["resultType"]))
        .map(str::to_ascii_lowercase)
}

fn status_code(v: &Value) -> Option<String> {
    at(v, &["properties", "statusCode"])
        .and_then(|c| {
            c.as_str()
                .map(str::to_owned)
                .or_else(|| c.as_u64().map(|n| n.to_string()))
        })
        .or_else(|| str_or_value_at(v, &["subStatus"]).map(str::to_owned))
}

fn code_is_error(code: &str) -> bool {
    const ERRORS: [&str; 12] = [
        "failed",
        "badrequest",
        "conflict",
        "forbidden",
        "notfound",
        "unauthorized",
        "internalservererror",
        "serviceunavailable",
        "gatewaytimeout",
        "toomanyrequests",
        "preconditionfailed",
        "badgateway",
    ];
    let lower = code.to_ascii_lowercase();
    ERRORS.contains(&lower.as_str()) || lower.parse::<u16>().is_ok_and(|n| n >= 400)
}

/// Rank of a record's status for folding (higher = more final), and
/// whether it reports failure; `None` for statuses not kept.
fn rank(v: &Value) -> Option<(u8, bool)> {
    let code_failed = status_code(v).is_some_and(|c| code_is_error(&c));
    match status(v).as_deref() {
        None => Some((0, code_failed)),
        Some("started" | "start") => Some((1, code_failed)),
        Some("accepted" | "accept") => Some((2, code_failed)),
        Some("succeeded" | "success") => Some((3, code_failed)),
        Some("failed" | "failure") => Some((3, true)),
        Some(_) => None,
    }
}

/// Folding key of a record: operation (or correlation) id, resource and
/// operation; with its rank. `None`: cannot be folded.
pub(crate) fn fold_key(v: &Value) -> Option<(String, u8)> {
    let id = str_at(v, &["operationId"]).or_else(|| str_at(v, &["correlationId"]))?;
    let res = str_at(v, &["resourceId"]).unwrap_or("");
    let op = str_or_value_at(v, &["operationName"]).unwrap_or("");
    let (r, _) = rank(v)?;
    Some((
        format!(
            "{id}|{}|{}",
            res.to_ascii_lowercase(),
            op.to_ascii_lowercase()
        ),
        r,
    ))
}

/// Recognises one Activity Log record (stateless: every kept record gives
/// an event; file reading folds them per operation).
pub fn recognise_azure_activity(record: &Value, raw: &str, origin: &str) -> Option<ConfigEvent> {
    azure(record, raw, origin).into_event()
}

/// `properties.requestbody` / `responseBody`: JSON text (or an object).
fn bodies(v: &Value) -> Vec<Value> {
    let Some(props) = v.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .filter(|(k, _)| {
            k.eq_ignore_ascii_case("requestbody") || k.eq_ignore_ascii_case("responsebody")
        })
        .filter_map(|(_, b)| match b {
            Value::String(s) if s.len() <= MAX_BODY => serde_json::from_str(s).ok(),
            Value::Object(_) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn id_under<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    find(body, key, &|x: &'a Value| {
        x.get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
}

pub(crate) fn azure(v: &Value, raw: &str, origin: &str) -> Ingested {
    let Some((resource, delete)) = str_or_value_at(v, &["operationName"]).and_then(classify) else {
        return Ingested::Unmatched;
    };
    let Some((_, failed)) = rank(v) else {
        return Ingested::Folded;
    };
    let action = if delete {
        Action::Delete
    } else {
        let sig = str_at(v, &["resultSignature"]).unwrap_or("");
        let code = status_code(v).unwrap_or_default();
        if code.eq_ignore_ascii_case("ok") || sig.eq_ignore_ascii_case("succeeded.ok") {
            Action::Modify
        } else {
            Action::Create
        }
    };
    let mut ev = ConfigEvent::new(Platform::Azure, action, raw, origin);
    ev.failed = failed;
    ev.time_us = str_at(v, &["eventTimestamp"])
        .or_else(|| str_at(v, &["time"]))
        .and_then(parse_rfc3339_us);
    let resource_id = str_at(v, &["resourceId"]).unwrap_or("");
    ev.device = str_at(v, &["subscriptionId"])
        .or_else(|| path_segment_after(resource_id, "subscriptions"))
        .map(str::to_ascii_lowercase);
    ev.actor = str_at(v, &["caller"])
        .or_else(|| {
            let claims = at(v, &["identity", "claims"]).or_else(|| v.get("claims"))?;
            [
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
                "upn",
                "name",
                "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
                "appid",
            ]
            .iter()
            .find_map(|k| {
                claims
                    .get(*k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            })
        })
        .map(str::to_owned);
    ev.source_ip = str_at(v, &["httpRequest", "clientIpAddress"])
        .or_else(|| str_at(v, &["callerIpAddress"]))
        .map(str::to_owned);
    let bodies = bodies(v);
    let destination = bodies.iter().find_map(|b| match resource {
        Resource::VirtualNetworkTap => id_under(b, "destinationNetworkInterfaceIPConfiguration")
            .or_else(|| id_under(b, "destinationLoadBalancerFrontEndIPConfiguration")),
        Resource::TapConfiguration => id_under(b, "virtualNetworkTap"),
    });
    ev.destination = destination.map(str::to_owned);
    ev.resource = Some(ResourceKind::Tap);
    let collection = match resource {
        Resource::VirtualNetworkTap => "virtualNetworkTaps",
        Resource::TapConfiguration => "tapConfigurations",
    };
    ev.resource_id = path_segment_after(resource_id, collection)
        .or_else(|| bodies.iter().find_map(|b| str_at(b, &["name"])))
        .map(str::to_owned);
    // The destination's address, when the body spells it out
    // (`destinationNetworkInterfaceIPConfiguration.properties.privateIPAddress`).
    if resource == Resource::VirtualNetworkTap {
        ev.destination_ip = bodies.iter().find_map(|b| {
            [
                "destinationNetworkInterfaceIPConfiguration",
                "destinationLoadBalancerFrontEndIPConfiguration",
            ]
            .iter()
            .find_map(|k| {
                let d = find(b, k, &|x: &Value| Some(x.clone()))?;
                find(&d, "privateIPAddress", &|x: &Value| {
                    x.as_str().and_then(|s| s.parse().ok())
                })
            })
        });
        if ev.destination.is_none() {
            ev.destination = ev.destination_ip.map(|ip| ip.to_string());
        }
    }
    ev.region = bodies
        .iter()
        .find_map(|b| str_at(b, &["location"]))
        .map(str::to_owned);
    ev.target_account = destination
        .and_then(|d| path_segment_after(d, "subscriptions"))
        .map(str::to_ascii_lowercase);
    if resource == Resource::TapConfiguration {
        let lower = resource_id.to_ascii_lowercase();
        if let Some(nic) = lower
            .find("/tapconfigurations/")
            .and_then(|i| resource_id.get(..i))
        {
            ev.sources.push(nic.to_owned());
        }
    }
    Ingested::Event(Box::new(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn operations() {
        assert_eq!(
            classify("Microsoft.Network/virtualNetworkTaps/write"),
            Some((Resource::VirtualNetworkTap, false))
        );
        assert_eq!(
            classify("MICROSOFT.NETWORK/VIRTUALNETWORKTAPS/DELETE"),
            Some((Resource::VirtualNetworkTap, true))
        );
        assert_eq!(
            classify("Microsoft.Network/networkInterfaces/tapConfigurations/write"),
            Some((Resource::TapConfiguration, false))
        );
        assert_eq!(classify("Microsoft.Network/virtualNetworkTaps/read"), None);
        assert_eq!(classify("Microsoft.Network/networkInterfaces/write"), None);
    }

    #[test]
    fn tap_configuration_cross_subscription() {
        let v = json!({
            "operationName": {"value": "Microsoft.Network/networkInterfaces/tapConfigurations/write"},
            "status": {"value": "Succeeded"}, "subStatus": {"value": "Created"},
            "caller": "mallory@contoso.com", "operationId": "op1",
            "eventTimestamp": "2024-03-01T10:20:00.1234567Z",
            "resourceId": "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic1/tapConfigurations/t1",
            "properties": {"statusCode": "Created", "requestbody": "{\"properties\":{\"virtualNetworkTap\":{\"id\":\"/subscriptions/s2/resourceGroups/x/providers/Microsoft.Network/virtualNetworkTaps/tap\"}}}"}
        });
        let ev = recognise_azure_activity(&v, "r", "o").unwrap();
        assert_eq!(ev.action, Action::Create);
        assert_eq!(ev.device.as_deref(), Some("s1"));
        assert_eq!(ev.target_account.as_deref(), Some("s2"));
        assert_eq!(
            ev.sources,
            vec!["/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/networkInterfaces/nic1".to_owned()]
        );
        assert_eq!(ev.time_us, Some(1_709_288_400_123_456));
        assert_eq!(fold_key(&v).map(|k| k.1), Some(3));
    }

    #[test]
    fn statuses() {
        let base = |status: &str| {
            json!({"operationName": "MICROSOFT.NETWORK/VIRTUALNETWORKTAPS/WRITE", "resultType": status,
                   "correlationId": "c", "resourceId": "/SUBSCRIPTIONS/S/x"})
        };
        assert!(
            !recognise_azure_activity(&base("Start"), "r", "o")
                .unwrap()
                .failed
        );
        assert!(
            recognise_azure_activity(&base("Failure"), "r", "o")
                .unwrap()
                .failed
        );
        assert_eq!(azure(&base("Active"), "r", "o"), Ingested::Folded);
        assert_eq!(fold_key(&base("Start")).map(|k| k.1), Some(1));
        assert_eq!(
            recognise_azure_activity(&base("Success"), "r", "o")
                .unwrap()
                .device
                .as_deref(),
            Some("s")
        );
        let mut bad = base("Succeeded");
        bad["properties"] = json!({"statusCode": "Conflict"});
        assert!(recognise_azure_activity(&bad, "r", "o").unwrap().failed);
    }
}
