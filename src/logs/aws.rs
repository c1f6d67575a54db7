//! AWS CloudTrail: VPC Traffic Mirroring API calls.
//!
//! CloudTrail logs EC2 request parameters under a
//! `<Action>Request` object (`{"CreateTrafficMirrorSessionRequest":
//! {"NetworkInterfaceId": ...}}`) and responses under
//! `<Action>Response` with lower-camel-case members; flat shapes (CloudTrail
//! Lake, hand-written exports, EventBridge `detail`) are accepted too, as
//! fields are looked up by name at any depth.

use super::bounded::BoundedMap;
use super::json::{arn_account, find, find_str, find_u32, str_at};
use super::timefmt::parse_rfc3339_us;
use super::{Action, ConfigEvent, Ingested, Platform, ResourceKind};
use serde_json::Value;

/// What is known about a traffic mirror target (`tmt-...`) from its
/// creation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TargetInfo {
    pub owner: Option<String>,
}

pub(crate) type Targets = BoundedMap<TargetInfo>;

/// Is this a CloudTrail record at all?
pub(crate) fn is_cloudtrail(v: &Value) -> bool {
    v.get("eventSource").is_some_and(Value::is_string)
        && v.get("eventName").is_some_and(Value::is_string)
}

fn mirror_action(event_name: &str) -> Option<Action> {
    const NAMES: [(&str, Action); 12] = [
        ("CreateTrafficMirrorSession", Action::Create),
        ("ModifyTrafficMirrorSession", Action::Modify),
        ("DeleteTrafficMirrorSession", Action::Delete),
        ("CreateTrafficMirrorTarget", Action::Create),
        ("DeleteTrafficMirrorTarget", Action::Delete),
        ("CreateTrafficMirrorFilter", Action::Create),
        ("DeleteTrafficMirrorFilter", Action::Delete),
        ("CreateTrafficMirrorFilterRule", Action::Create),
        ("ModifyTrafficMirrorFilterRule", Action::Modify),
        ("DeleteTrafficMirrorFilterRule", Action::Delete),
        ("ModifyTrafficMirrorFilterNetworkServices", Action::Modify),
        ("ModifyTrafficMirrorSessionFields", Action::Modify),
    ];
    NAMES
        .iter()
        .find(|(n, _)| *n == event_name)
        .map(|(_, a)| *a)
}

/// The resource an event name is about, and the key of its id.
fn resource_of(event_name: &str) -> (ResourceKind, &'static str) {
    if event_name.contains("TrafficMirrorFilterRule") {
        (ResourceKind::FilterRule, "TrafficMirrorFilterRuleId")
    } else if event_name.contains("TrafficMirrorFilter") {
        (ResourceKind::Filter, "TrafficMirrorFilterId")
    } else if event_name.contains("TrafficMirrorTarget") {
        (ResourceKind::Target, "TrafficMirrorTargetId")
    } else {
        (ResourceKind::Session, "TrafficMirrorSessionId")
    }
}

/// `Client.DryRunOperation`: the request would have succeeded; nothing
/// changed.
fn dry_run(v: &Value) -> bool {
    let code = v.get("errorCode").and_then(Value::as_str).unwrap_or("");
    code.ends_with("DryRunOperation")
        || v.get("requestParameters")
            .and_then(|r| find(r, "DryRun", &|x: &Value| x.as_bool()))
            .unwrap_or(false)
}

fn failed(v: &Value) -> bool {
    match v.get("errorCode") {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.is_empty() && !s.ends_with("DryRunOperation"),
        Some(_) => true,
    }
}

/// Recognises one CloudTrail record (stateless: a session's target account
/// is known only from the record itself, e.g. its `resources`).
pub fn recognise_cloudtrail(record: &Value, raw: &str, origin: &str) -> Option<ConfigEvent> {
    match cloudtrail(record, raw, origin, None) {
        Ingested::Event(e) => Some(*e),
        _ => None,
    }
}

/// Learns target ownership from a successful `CreateTrafficMirrorTarget`,
/// so that sessions in other accounts using the target can name its owner.
pub(crate) fn learn_target(v: &Value, targets: &mut Targets) {
    if v.get("eventName").and_then(Value::as_str) != Some("CreateTrafficMirrorTarget") || failed(v)
    {
        return;
    }
    let resp = v.get("responseElements").unwrap_or(&Value::Null);
    let Some(id) = find_str(resp, "trafficMirrorTargetId") else {
        return;
    };
    let owner = target_owner(v);
    targets.entry(id, || TargetInfo { owner: None }).owner = owner;
}

/// Owner of the target created by a `CreateTrafficMirrorTarget` record:
/// the NLB ARN's account, else the response's `ownerId`, else the
/// recipient account.
fn target_owner(v: &Value) -> Option<String> {
    let req = v.get("requestParameters").unwrap_or(&Value::Null);
    let resp = v.get("responseElements").unwrap_or(&Value::Null);
    find_str(req, "NetworkLoadBalancerArn")
        .or_else(|| find_str(resp, "networkLoadBalancerArn"))
        .and_then(arn_account)
        .or_else(|| find_str(resp, "ownerId"))
        .or_else(|| str_at(v, &["recipientAccountId"]))
        .map(str::to_owned)
}

/// Account owning the traffic mirror target named in `resources`, if the
/// record lists it.
fn resources_target_account(v: &Value) -> Option<String> {
    let res = v.get("resources")?.as_array()?;
    res.iter().take(32).find_map(|r| {
        let arn = r
            .get("ARN")
            .or_else(|| r.get("arn"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let ty = r.get("type").and_then(Value::as_str).unwrap_or("");
        if arn.contains(":traffic-mirror-target/") || ty == "AWS::EC2::TrafficMirrorTarget" {
            r.get("accountId")
                .and_then(Value::as_str)
                .or_else(|| arn_account(arn))
                .map(str::to_owned)
        } else {
            None
        }
    })
}

pub(crate) fn cloudtrail(
    v: &Value,
    raw: &str,
    origin: &str,
    targets: Option<&Targets>,
) -> Ingested {
    let source = v.get("eventSource").and_then(Value::as_str).unwrap_or("");
    if !source.eq_ignore_ascii_case("ec2.amazonaws.com") {
        return Ingested::Unmatched;
    }
    let name = v.get("eventName").and_then(Value::as_str).unwrap_or("");
    let Some(action) = mirror_action(name) else {
        return Ingested::Unmatched;
    };
    let req = v.get("requestParameters").unwrap_or(&Value::Null);
    let resp = v.get("responseElements").unwrap_or(&Value::Null);
    let mut ev = ConfigEvent::new(Platform::Aws, action, raw, origin);
    ev.time_us = str_at(v, &["eventTime"]).and_then(parse_rfc3339_us);
    ev.device = str_at(v, &["recipientAccountId"])
        .or_else(|| str_at(v, &["userIdentity", "accountId"]))
        .map(str::to_owned);
    ev.actor = str_at(v, &["userIdentity", "arn"])
        .or_else(|| str_at(v, &["userIdentity", "principalId"]))
        .or_else(|| str_at(v, &["userIdentity", "invokedBy"]))
        .map(str::to_owned);
    ev.source_ip = str_at(v, &["sourceIPAddress"]).map(str::to_owned);
    ev.region = str_at(v, &["awsRegion"]).map(str::to_owned);
    ev.failed = failed(v);
    ev.dry_run = dry_run(v);
    let (kind, id_key) = resource_of(name);
    ev.resource = Some(kind);
    // The id: in the response for creations (`trafficMirrorSession.
    // trafficMirrorSessionId`), in the request for changes and deletions;
    // the response of a deletion repeats it.
    ev.resource_id = find_str(resp, id_key)
        .or_else(|| find_str(req, id_key))
        .map(str::to_owned);
    let known_owner = |id: &str| {
        targets
            .and_then(|t| t.get(id))
            .and_then(|t| t.owner.clone())
    };
    if kind == ResourceKind::Session {
        // `virtualNetworkId` is a number or a string in CloudTrail.
        let vni = find_u32(req, "VirtualNetworkId").or_else(|| find_u32(resp, "virtualNetworkId"));
        ev.vni = vni;
        ev.session = find_u32(req, "SessionNumber").or_else(|| find_u32(resp, "sessionNumber"));
        if let Some(eni) =
            find_str(req, "NetworkInterfaceId").or_else(|| find_str(resp, "networkInterfaceId"))
        {
            ev.sources.push(eni.to_owned());
        }
        let target = find_str(req, "TrafficMirrorTargetId")
            .or_else(|| find_str(resp, "trafficMirrorTargetId"));
        ev.destination = target.map(str::to_owned);
        ev.target_account = resources_target_account(v).or_else(|| target.and_then(known_owner));
    } else if kind == ResourceKind::Target {
        let resource = find_str(req, "NetworkLoadBalancerArn")
            .or_else(|| find_str(req, "GatewayLoadBalancerEndpointId"))
            .or_else(|| find_str(req, "NetworkInterfaceId"))
            .or_else(|| find_str(resp, "networkLoadBalancerArn"))
            .or_else(|| find_str(resp, "gatewayLoadBalancerEndpointId"))
            .or_else(|| find_str(resp, "networkInterfaceId"));
        let target_id = find_str(req, "TrafficMirrorTargetId")
            .or_else(|| find_str(resp, "trafficMirrorTargetId"));
        if action == Action::Create {
            ev.destination = resource.or(target_id).map(str::to_owned);
            ev.target_account = target_owner(v);
        } else {
            ev.destination = target_id.or(resource).map(str::to_owned);
            ev.target_account =
                resources_target_account(v).or_else(|| target_id.and_then(known_owner));
        }
    }
    Ingested::Event(Box::new(ev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn session_with_nested_request_and_learned_target() {
        let target = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "CreateTrafficMirrorTarget",
            "recipientAccountId": "999988887777",
            "requestParameters": {"CreateTrafficMirrorTargetRequest": {"NetworkLoadBalancerArn": "arn:aws:elasticloadbalancing:us-east-1:999988887777:loadbalancer/net/c/1"}},
            "responseElements": {"CreateTrafficMirrorTargetResponse": {"trafficMirrorTarget": {"trafficMirrorTargetId": "tmt-1", "ownerId": "999988887777"}}}
        });
        let session = json!({
            "eventSource": "ec2.amazonaws.com", "eventName": "CreateTrafficMirrorSession",
            "eventTime": "2024-03-01T10:05:00Z", "recipientAccountId": "111122223333",
            "userIdentity": {"arn": "arn:aws:iam::111122223333:user/mallory", "accountId": "111122223333"},
            "sourceIPAddress": "198.51.100.23",
            "requestParameters": {"CreateTrafficMirrorSessionRequest": {"NetworkInterfaceId": "eni-1", "TrafficMirrorTargetId": "tmt-1", "VirtualNetworkId": "4242", "SessionNumber": 1}},
            "responseElements": {"CreateTrafficMirrorSessionResponse": {"trafficMirrorSession": {"trafficMirrorSessionId": "tms-1"}}}
        });
        let mut targets = Targets::new(16);
        learn_target(&target, &mut targets);
        let Ingested::Event(ev) = cloudtrail(&session, "raw", "o:1", Some(&targets)) else {
            panic!("not recognised")
        };
        assert_eq!(ev.action, Action::Create);
        assert_eq!(ev.session, Some(1));
        // A string VNI, as CloudTrail sometimes writes it.
        assert_eq!(ev.vni, Some(4242));
        assert_eq!(ev.resource, Some(ResourceKind::Session));
        assert_eq!(ev.resource_id.as_deref(), Some("tms-1"));
        assert_eq!(ev.sources, vec!["eni-1".to_owned()]);
        assert_eq!(ev.destination.as_deref(), Some("tmt-1"));
        assert_eq!(ev.target_account.as_deref(), Some("999988887777"));
        assert_eq!(ev.device.as_deref(), Some("111122223333"));
        assert_eq!(ev.time_us, Some(1_709_287_500_000_000));
        // Stateless: no target account.
        let ev = recognise_cloudtrail(&session, "raw", "o:1").unwrap();
        assert_eq!(ev.target_account, None);
        let t = recognise_cloudtrail(&target, "raw", "o:1").unwrap();
        assert_eq!(
            t.destination.as_deref(),
            Some("arn:aws:elasticloadbalancing:us-east-1:999988887777:loadbalancer/net/c/1")
        );
        assert_eq!(t.target_account.as_deref(), Some("999988887777"));
    }

    #[test]
    fn flat_shape_errors_and_non_matches() {
        let v = json!({"eventSource": "ec2.amazonaws.com", "eventName": "DeleteTrafficMirrorSession",
            "requestParameters": {"TrafficMirrorSessionId": "tms-1"}, "errorCode": "Client.UnauthorizedOperation"});
        let ev = recognise_cloudtrail(&v, "r", "o").unwrap();
        assert!(ev.failed);
        assert_eq!(ev.action, Action::Delete);
        let d = json!({"eventSource": "ec2.amazonaws.com", "eventName": "DescribeTrafficMirrorSessions"});
        assert!(recognise_cloudtrail(&d, "r", "o").is_none());
        let s3 =
            json!({"eventSource": "s3.amazonaws.com", "eventName": "CreateTrafficMirrorSession"});
        assert!(recognise_cloudtrail(&s3, "r", "o").is_none());
        let weird = json!({"eventSource": "ec2.amazonaws.com", "eventName": "CreateTrafficMirrorSession",
            "requestParameters": "oops", "responseElements": [1, 2], "errorCode": null, "eventTime": 5});
        let ev = recognise_cloudtrail(&weird, "r", "o").unwrap();
        assert!(!ev.failed);
        assert_eq!(ev.time_us, None);
        assert_eq!(ev.session, None);
    }
}
