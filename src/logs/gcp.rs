//! Google Cloud Audit Logs (Admin Activity), as exported one entry per
//! line: Packet Mirroring (`v1|beta|alpha.compute.packetMirrorings.*`) and
//! Network Security Integration out-of-band mirroring resources.
//!
//! Long-running operations log a first and a last entry (`operation.first`
//! / `operation.last`); the event comes from the first, and the last is
//! folded into it unless it reports a failure.

use super::json::{at, find_str, path_segment_after, str_at};
use super::timefmt::parse_rfc3339_us;
use super::{Action, ConfigEvent, Ingested, Platform, ResourceKind};
use serde_json::Value;

pub(crate) fn is_gcp(v: &Value) -> bool {
    v.get("protoPayload").is_some_and(Value::is_object)
}

/// What a method name does to which resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resource {
    PacketMirroring,
    MirroringDeployment,
    MirroringDeploymentGroup,
    MirroringEndpointGroup,
    MirroringEndpointGroupAssociation,
}

fn classify(method: &str) -> Option<(Resource, Action)> {
    let lower = method.to_ascii_lowercase();
    if let Some(prefix_verb) = lower.split_once("compute.packetmirrorings.") {
        let (prefix, verb) = prefix_verb;
        let prefix = prefix.trim_end_matches('.');
        if !matches!(prefix, "" | "v1" | "beta" | "alpha") {
            return None;
        }
        let action = match verb {
            "insert" => Action::Create,
            "patch" | "update" => Action::Modify,
            "delete" => Action::Delete,
            _ => return None,
        };
        return Some((Resource::PacketMirroring, action));
    }
    if !lower.contains("networksecurity") {
        return None;
    }
    let flat: String = lower.chars().filter(|c| *c != '_').collect();
    let resource = if flat.contains("mirroringendpointgroupassociation") {
        Resource::MirroringEndpointGroupAssociation
    } else if flat.contains("mirroringendpointgroup") {
        Resource::MirroringEndpointGroup
    } else if flat.contains("mirroringdeploymentgroup") {
        Resource::MirroringDeploymentGroup
    } else if flat.contains("mirroringdeployment") {
        Resource::MirroringDeployment
    } else {
        return None;
    };
    // `google.cloud.networksecurity.v1.Mirroring.CreateMirroringDeployment`
    // or `...mirroringDeployments.create`.
    let last = flat.rsplit('.').next().unwrap_or("");
    let action = if last.starts_with("create") || last.starts_with("insert") {
        Action::Create
    } else if last.starts_with("update") || last.starts_with("patch") {
        Action::Modify
    } else if last.starts_with("delete") {
        Action::Delete
    } else {
        return None;
    };
    Some((resource, action))
}

/// Recognises one Cloud Audit Log entry.
pub fn recognise_gcp_audit(entry: &Value, raw: &str, origin: &str) -> Option<ConfigEvent> {
    match gcp(entry, raw, origin) {
        Ingested::Event(e) => Some(*e),
        _ => None,
    }
}

pub(crate) fn gcp(v: &Value, raw: &str, origin: &str) -> Ingested {
    let Some(pp) = v.get("protoPayload") else {
        return Ingested::Unmatched;
    };
    let Some((resource, action)) = pp
        .get("methodName")
        .and_then(Value::as_str)
        .and_then(classify)
    else {
        return Ingested::Unmatched;
    };
    let severity = str_at(v, &["severity"]).unwrap_or("");
    let status_code = at(pp, &["status", "code"])
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let failed =
        status_code != 0 || matches!(severity, "ERROR" | "CRITICAL" | "ALERT" | "EMERGENCY");
    let last = at(v, &["operation", "last"]).and_then(Value::as_bool) == Some(true);
    let first = at(v, &["operation", "first"]).and_then(Value::as_bool) == Some(true);
    if last && !first && !failed {
        return Ingested::Folded;
    }
    let mut ev = ConfigEvent::new(Platform::Gcp, action, raw, origin);
    ev.time_us = str_at(v, &["timestamp"])
        .or_else(|| str_at(v, &["receiveTimestamp"]))
        .and_then(parse_rfc3339_us);
    ev.device = str_at(v, &["resource", "labels", "project_id"])
        .or_else(|| str_at(pp, &["resourceName"]).and_then(|r| path_segment_after(r, "projects")))
        .map(str::to_owned);
    ev.actor = str_at(pp, &["authenticationInfo", "principalEmail"]).map(str::to_owned);
    ev.source_ip = str_at(pp, &["requestMetadata", "callerIp"]).map(str::to_owned);
    ev.failed = failed;
    let req = pp.get("request").unwrap_or(&Value::Null);
    let resource_name = str_at(pp, &["resourceName"]).unwrap_or("");
    let (kind, collection, id_key) = match resource {
        Resource::PacketMirroring => (ResourceKind::Session, "packetMirrorings", "name"),
        Resource::MirroringEndpointGroupAssociation => (
            ResourceKind::Session,
            "mirroringEndpointGroupAssociations",
            "mirroringEndpointGroupAssociationId",
        ),
        Resource::MirroringDeployment => (
            ResourceKind::Target,
            "mirroringDeployments",
            "mirroringDeploymentId",
        ),
        Resource::MirroringDeploymentGroup => (
            ResourceKind::Target,
            "mirroringDeploymentGroups",
            "mirroringDeploymentGroupId",
        ),
        Resource::MirroringEndpointGroup => (
            ResourceKind::Target,
            "mirroringEndpointGroups",
            "mirroringEndpointGroupId",
        ),
    };
    ev.resource = Some(kind);
    // The name: the resource path's last segment
    // (`projects/p/regions/r/packetMirrorings/NAME`), else the request's.
    ev.resource_id = path_segment_after(resource_name, collection)
        .or_else(|| str_at(req, &[id_key]))
        .or_else(|| str_at(req, &["name"]).map(|n| n.rsplit('/').next().unwrap_or(n)))
        .map(str::to_owned);
    ev.region = path_segment_after(resource_name, "regions")
        .or_else(|| path_segment_after(resource_name, "locations"))
        .or_else(|| str_at(v, &["resource", "labels", "region"]))
        .or_else(|| str_at(v, &["resource", "labels", "location"]))
        .map(str::to_owned);
    ev.network = req
        .get("network")
        .and_then(|n| n.get("url").and_then(Value::as_str).or_else(|| n.as_str()))
        .or_else(|| find_str(req, "network"))
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let url_of = |key: &str| {
        req.get(key)
            .and_then(|x| x.get("url").and_then(Value::as_str).or_else(|| x.as_str()))
            .filter(|s| !s.is_empty())
    };
    let destination = match resource {
        Resource::PacketMirroring => url_of("collectorIlb"),
        Resource::MirroringDeployment => find_str(req, "forwardingRule"),
        Resource::MirroringEndpointGroup => find_str(req, "mirroringDeploymentGroup"),
        Resource::MirroringEndpointGroupAssociation => find_str(req, "mirroringEndpointGroup"),
        Resource::MirroringDeploymentGroup => find_str(req, "network"),
    };
    ev.destination = destination.map(str::to_owned);
    ev.target_account = destination
        .and_then(|d| path_segment_after(d, "projects"))
        .map(str::to_owned);
    match resource {
        Resource::PacketMirroring => {
            let mr = req.get("mirroredResources").unwrap_or(&Value::Null);
            for list in ["instances", "subnetworks"] {
                let items = mr
                    .get(list)
                    .and_then(Value::as_array)
                    .map_or(&[][..], Vec::as_slice);
                for item in items.iter().take(64) {
                    if let Some(url) = item
                        .get("url")
                        .and_then(Value::as_str)
                        .or_else(|| item.as_str())
                    {
                        ev.sources.push(url.to_owned());
                    }
                }
            }
            let tags = mr
                .get("tags")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            for tag in tags.iter().take(64).filter_map(Value::as_str) {
                ev.sources.push(format!("tag:{tag}"));
            }
        }
        Resource::MirroringEndpointGroupAssociation => {
            if let Some(net) = find_str(req, "network") {
                ev.sources.push(net.to_owned());
            }
        }
        _ => {}
    }
    Ingested::Event(Box::new(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn method_names() {
        assert_eq!(
            classify("v1.compute.packetMirrorings.insert"),
            Some((Resource::PacketMirroring, Action::Create))
        );
        assert_eq!(
            classify("beta.compute.packetMirrorings.patch"),
            Some((Resource::PacketMirroring, Action::Modify))
        );
        assert_eq!(
            classify("alpha.compute.packetMirrorings.delete"),
            Some((Resource::PacketMirroring, Action::Delete))
        );
        assert_eq!(classify("v1.compute.packetMirrorings.get"), None);
        assert_eq!(classify("v1.compute.packetMirrorings.list"), None);
        assert_eq!(classify("v1.compute.packetMirrorings.aggregatedList"), None);
        assert_eq!(classify("evil.compute.packetMirrorings.insert"), None);
        assert_eq!(
            classify("google.cloud.networksecurity.v1.Mirroring.CreateMirroringDeployment"),
            Some((Resource::MirroringDeployment, Action::Create))
        );
        assert_eq!(
            classify(
                "google.cloud.networksecurity.v1beta1.Mirroring.UpdateMirroringEndpointGroupAssociation"
            ),
            Some((Resource::MirroringEndpointGroupAssociation, Action::Modify))
        );
        assert_eq!(
            classify("networksecurity.projects.locations.mirroringDeploymentGroups.delete"),
            Some((Resource::MirroringDeploymentGroup, Action::Delete))
        );
        assert_eq!(
            classify("google.cloud.networksecurity.v1.Mirroring.ListMirroringDeployments"),
            None
        );
        assert_eq!(
            classify("google.cloud.networksecurity.v1.Mirroring.GetMirroringEndpointGroup"),
            None
        );
        assert_eq!(classify("v1.compute.instances.insert"), None);
    }

    #[test]
    fn insert_entry() {
        let v = json!({
            "protoPayload": {
                "methodName": "v1.compute.packetMirrorings.insert",
                "authenticationInfo": {"principalEmail": "m@example.com"},
                "requestMetadata": {"callerIp": "198.51.100.9"},
                "request": {"collectorIlb": {"url": "projects/other/regions/r/forwardingRules/f"},
                            "mirroredResources": {"instances": [{"url": "projects/p/zones/z/instances/i"}], "tags": ["db"]}}
            },
            "resource": {"labels": {"project_id": "p"}},
            "timestamp": "2024-03-01T10:00:00Z",
            "operation": {"first": true},
            "severity": "NOTICE"
        });
        let ev = recognise_gcp_audit(&v, "r", "o").unwrap();
        assert_eq!(ev.device.as_deref(), Some("p"));
        assert_eq!(ev.target_account.as_deref(), Some("other"));
        assert_eq!(
            ev.sources,
            vec![
                "projects/p/zones/z/instances/i".to_owned(),
                "tag:db".to_owned()
            ]
        );
        assert!(!ev.failed);
        let mut last = v.clone();
        last["operation"] = json!({"last": true});
        assert_eq!(gcp(&last, "r", "o"), Ingested::Folded);
        last["protoPayload"]["status"] = json!({"code": 7, "message": "denied"});
        assert!(recognise_gcp_audit(&last, "r", "o").unwrap().failed);
    }
}
