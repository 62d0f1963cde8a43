//! How the console writes what an operator reads: money as currency, times with their zone,
//! a task's result in words.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// `2026-12-07 16:58:03 UTC`.
pub fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2026-12-07 16:58:03.120 UTC`, for logs where the order of close events matters.
pub fn when_precise(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f UTC").to_string()
}

/// `$1,234.50` for an amount in cents of US dollars (or of an unknown currency: the shop's
/// prices are in dollars), `€12.00`, `£12.00`, else `12.00 CAD`.
pub fn money(cents: i64, currency: Option<&str>) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let cents = cents.unsigned_abs();
    let whole = (cents / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let amount = format!("{grouped}.{:02}", cents % 100);
    match currency.map(str::to_ascii_uppercase).as_deref() {
        None | Some("USD") => format!("{sign}${amount}"),
        Some("EUR") => format!("{sign}€{amount}"),
        Some("GBP") => format!("{sign}£{amount}"),
        Some(other) => format!("{sign}{amount} {other}"),
    }
}

/// A task's last result as the queue stores it (`{"Ok": …}`, `{"Err": "…"}`, or a message),
/// in words.
pub fn task_result(result: &Value) -> String {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    match result {
        Value::Object(map) if map.contains_key("Ok") => "succeeded".into(),
        Value::Object(map) if map.contains_key("Err") => {
            format!("failed: {}", text(&map["Err"]))
        }
        other => text(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_currency_and_results_as_words() {
        assert_eq!(money(10_000, Some("usd")), "$100.00");
        assert_eq!(money(123_456_789, None), "$1,234,567.89");
        assert_eq!(money(5, Some("eur")), "€0.05");
        assert_eq!(money(-250, Some("cad")), "-2.50 CAD");
        assert_eq!(task_result(&serde_json::json!({"Ok": null})), "succeeded");
        assert_eq!(
            task_result(&serde_json::json!({"Err": "Stripe answered 500"})),
            "failed: Stripe answered 500"
        );
        assert_eq!(task_result(&serde_json::json!("timed out")), "timed out");
    }
}
