//! JSON helpers for cloud audit records: tolerant field access (nested or
//! flat request shapes, any key case), and a splitter that finds the raw
//! text of each element of a `{"Records": [...]}` document without
//! re-serialising it.

use serde_json::Value;

/// Maximum depth searched by [`find`].
const FIND_DEPTH: u8 = 6;

/// `v[path[0]][path[1]]...`.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

/// String at `path`, non-empty.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// String at `path`, or `value` inside an object there (Azure's
/// `{"value": ..., "localizedValue": ...}`).
pub(crate) fn str_or_value_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let x = at(v, path)?;
    x.as_str()
        .or_else(|| x.get("value").and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Depth-first search for the first key equal (ignoring ASCII case) to
/// `key` whose value `f` accepts.
pub(crate) fn find<'a, T>(
    v: &'a Value,
    key: &str,
    f: &dyn Fn(&'a Value) -> Option<T>,
) -> Option<T> {
    find_depth(v, key, f, FIND_DEPTH)
}

fn find_depth<'a, T>(
    v: &'a Value,
    key: &str,
    f: &dyn Fn(&'a Value) -> Option<T>,
    depth: u8,
) -> Option<T> {
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                if k.eq_ignore_ascii_case(key) {
                    if let Some(t) = f(val) {
                        return Some(t);
                    }
                }
            }
            if depth == 0 {
                return None;
            }
            m.values()
                .find_map(|val| find_depth(val, key, f, depth - 1))
        }
        Value::Array(a) if depth > 0 => a
            .iter()
            .take(64)
            .find_map(|val| find_depth(val, key, f, depth - 1)),
        _ => None,
    }
}

/// First non-empty string under `key` anywhere in `v`.
pub(crate) fn find_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    find(v, key, &|x: &'a Value| x.as_str().filter(|s| !s.is_empty()))
}

/// First number (or numeric string) under `key` that fits a `u32`.
pub(crate) fn find_u32(v: &Value, key: &str) -> Option<u32> {
    find(v, key, &as_u32)
}

pub(crate) fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Account field of an ARN (`arn:aws:elasticloadbalancing:us-east-1:999988887777:loadbalancer/...`).
pub(crate) fn arn_account(arn: &str) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    if parts.next()? != "arn" {
        return None;
    }
    let account = parts.nth(3)?;
    (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// The value after `marker/` in a resource path
/// (`projects/p1/regions/r/...` → `p1` for marker `projects`).
pub(crate) fn path_segment_after<'a>(path: &'a str, marker: &str) -> Option<&'a str> {
    let mut it = path.split('/');
    while let Some(seg) = it.next() {
        if seg.eq_ignore_ascii_case(marker) {
            return it.next().filter(|s| !s.is_empty());
        }
    }
    None
}

/// The `Records` (or `records`) array of a log document.
pub(crate) fn records_array(v: &Value) -> Option<&Vec<Value>> {
    v.get("Records")
        .or_else(|| v.get("records"))
        .and_then(Value::as_array)
}

/// Byte spans of the elements of the record list in `text`: the
/// `Records`/`records` array of a top-level object, or a top-level array.
/// `None` if neither is present or the text is not well formed.
pub(crate) fn record_spans(text: &str) -> Option<Vec<(usize, usize)>> {
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    match b.get(i)? {
        b'[' => array_spans(b, i),
        b'{' => {
            i += 1;
            loop {
                i = skip_ws(b, i);
                if b.get(i)? == &b'}' {
                    return None;
                }
                let key_start = i + 1;
                i = skip_string(b, i)?;
                let key = b.get(key_start..i - 1)?;
                i = skip_ws(b, i);
                if b.get(i)? != &b':' {
                    return None;
                }
                i = skip_ws(b, i + 1);
                if (key == b"Records" || key == b"records") && b.get(i) == Some(&b'[') {
                    return array_spans(b, i);
                }
                i = skip_value(b, i)?;
                i = skip_ws(b, i);
                match b.get(i)? {
                    b',' => i += 1,
                    _ => return None,
                }
            }
        }
        _ => None,
    }
}

fn array_spans(b: &[u8], mut i: usize) -> Option<Vec<(usize, usize)>> {
    if b.get(i)? != &b'[' {
        return None;
    }
    i += 1;
    let mut out = Vec::new();
    loop {
        i = skip_ws(b, i);
        if b.get(i)? == &b']' {
            return Some(out);
        }
        let start = i;
        i = skip_value(b, i)?;
        out.push((start, i));
        i = skip_ws(b, i);
        match b.get(i)? {
            b',' => i += 1,
            b']' => return Some(out),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b
        .get(i)
        .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
    {
        i += 1;
    }
    i
}

/// `b[i]` is `"`; returns the index after the closing quote.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i)? != &b'"' {
        return None;
    }
    i += 1;
    loop {
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
}

fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match b.get(i)? {
                    b'"' => {
                        i = skip_string(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let start = i;
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r'))
            {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerant_lookup() {
        let v = json!({"requestParameters": {"CreateTrafficMirrorSessionRequest": {"VirtualNetworkId": 4242, "NetworkInterfaceId": "eni-1"}}});
        assert_eq!(find_u32(&v, "virtualnetworkid"), Some(4242));
        assert_eq!(find_str(&v, "NetworkInterfaceId"), Some("eni-1"));
        assert_eq!(find_str(&v, "missing"), None);
        assert_eq!(as_u32(&json!("17")), Some(17));
        assert_eq!(as_u32(&json!(-1)), None);
        assert_eq!(as_u32(&json!(5_000_000_000u64)), None);
        assert_eq!(
            str_or_value_at(&json!({"a": {"value": "x"}}), &["a"]),
            Some("x")
        );
        assert_eq!(str_or_value_at(&json!({"a": "y"}), &["a"]), Some("y"));
    }

    #[test]
    fn arns_and_paths() {
        assert_eq!(
            arn_account("arn:aws:elasticloadbalancing:us-east-1:999988887777:loadbalancer/net/x/1"),
            Some("999988887777")
        );
        assert_eq!(
            arn_account("arn:aws:iam::111122223333:user/a"),
            Some("111122223333")
        );
        assert_eq!(arn_account("arn:aws:s3:::bucket"), None);
        assert_eq!(arn_account("nope"), None);
        assert_eq!(
            path_segment_after(
                "https://www.googleapis.com/compute/v1/projects/p1/regions/r/forwardingRules/f",
                "projects"
            ),
            Some("p1")
        );
        assert_eq!(
            path_segment_after("/SUBSCRIPTIONS/abc/resourceGroups/x", "subscriptions"),
            Some("abc")
        );
    }

    #[test]
    fn spans_match_elements() {
        let text = "{\"a\": [1, {\"x\": \"]}\"}], \"Records\": [ {\"k\": \"v\\\"}\"} ,\n [1,2], 3 ,\"s\"]}";
        let spans = record_spans(text).unwrap();
        let parts: Vec<&str> = spans.iter().map(|&(a, b)| &text[a..b]).collect();
        assert_eq!(parts, vec!["{\"k\": \"v\\\"}\"}", "[1,2]", "3", "\"s\""]);
        assert_eq!(record_spans("[{\"a\":1}, {\"b\":2}]").unwrap().len(), 2);
        assert_eq!(record_spans("{\"a\": 1}"), None);
        assert_eq!(record_spans("{\"Records\": [1, 2"), None);
        assert_eq!(record_spans("{\"Records\": [}"), None);
        assert_eq!(record_spans(""), None);
        assert_eq!(record_spans("{\"Records\": [\"\\"), None);
    }
}
