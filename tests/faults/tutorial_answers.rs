//! Whether a command's answer fits what the tutorial shows (`tests/faults/tutorial.rs`): `…`
//! in the page stands for any text; a `json` answer is compared as JSON (the same keys, the
//! same values), a `text` one line by line.

use serde_json::Value;

/// Does `text` fit `pattern`, in which `…` stands for any run of characters?
pub fn fits_text(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return text == pattern;
    }
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// Where `actual` differs from `expected` (`…` in an expected string: any text; a bare `…`
/// where a value goes: any value).
fn json_differences(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) if fits_text(e, a) => {}
        (Value::String(e), _) if e == "…" => {}
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for key in keys {
                match (e.get(key), a.get(key)) {
                    (Some(ev), Some(av)) => json_differences(ev, av, &format!("{at}.{key}"), out),
                    (Some(_), None) => out.push(format!("{at}.{key}: missing from the answer")),
                    (None, _) => out.push(format!("{at}.{key}: in the answer, not on the page")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                json_differences(ev, av, &format!("{at}[{i}]"), out);
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!(
            "{at}: the page says {expected}, the answer is {actual}"
        )),
    }
}

/// Where `output` differs from the answer a page shows (`lang` its block's language, `text`
/// its text); empty when it fits.
pub fn differences(lang: &str, text: &str, output: &str) -> Vec<String> {
    if lang == "json" {
        let expected: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("the page's answer is JSON: {e}\n{}", text));
        let Ok(actual) = serde_json::from_str::<Value>(output) else {
            return vec![format!("the answer is not JSON: {output:?}")];
        };
        let mut out = vec![];
        json_differences(&expected, &actual, "", &mut out);
        return out;
    }
    let (expected, actual): (Vec<&str>, Vec<&str>) = (
        text.trim_end().lines().collect(),
        output.trim_end().lines().collect(),
    );
    if expected.len() == actual.len()
        && expected
            .iter()
            .zip(&actual)
            .all(|(e, a)| fits_text(e.trim_end(), a.trim_end()))
    {
        return vec![];
    }
    vec![format!(
        "the page says {expected:?}, the answer is {actual:?}"
    )]
}

#[test]
fn a_pattern_fits_only_the_text_it_describes() {
    assert!(fits_text("ORD-…", "ORD-7KQ2M9XC4PZR8T1V"));
    assert!(fits_text(
        "http://127.0.0.1:…/pay/cs_test_…",
        "http://127.0.0.1:4242/pay/cs_test_a1"
    ));
    assert!(!fits_text(
        "http://127.0.0.1:…/pay/cs_test_…",
        "http://127.0.0.1:4242/pay/ch_1"
    ));
    assert!(!fits_text("ORD-…", "ord-1"));
    assert!(fits_text("…", ""));
    assert!(!fits_text("a…a", "a"));
}

#[test]
fn an_answer_with_a_changed_missing_or_extra_field_does_not_fit() {
    let page = r#"{"status": "paid", "id": "ORD-…", "n": 1}"#;
    assert!(differences("json", page, r#"{"status":"paid","id":"ORD-9","n":1}"#).is_empty());
    for wrong in [
        r#"{"status":"refunded","id":"ORD-9","n":1}"#,
        r#"{"status":"paid","id":"X-9","n":1}"#,
        r#"{"status":"paid","n":1}"#,
        r#"{"status":"paid","id":"ORD-9","n":1,"extra":true}"#,
        r#"{"status":"paid","id":"ORD-9","n":2}"#,
        "not json",
    ] {
        assert!(!differences("json", page, wrong).is_empty(), "{wrong} fits");
    }
    let text = "h2s_invariant_violations 0\n";
    assert!(differences("text", text, "h2s_invariant_violations 0\n").is_empty());
    assert!(!differences("text", text, "h2s_invariant_violations 1\n").is_empty());
}
