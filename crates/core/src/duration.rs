//! Durations, one way everywhere: in specs (`timeout 5s`), on the command
//! line (`--timeout 30s`), in sandbox faults (`token:latency=1.5s`), and
//! when shown to people.

use std::time::Duration;

/// The longest duration anything takes: a day.
const MAX: Duration = Duration::from_secs(86_400);

/// A number with a unit: `250ms`, `5s`, `1.5s`, `2m`. Decimals are allowed,
/// a unit is required (is `30` seconds or milliseconds?), and at most a
/// day.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad =
        |why: &str| format!("`{text}` is not a duration{why}: write e.g. 250ms, 5s, 1.5s or 2m");
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(number_end);
    let scale = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "" => return Err(bad(" (it has no unit)")),
        _ => return Err(bad("")),
    };
    let n: f64 = number.parse().map_err(|_| bad(""))?;
    let secs = n * scale;
    if !secs.is_finite() || secs > MAX.as_secs_f64() {
        return Err(format!(
            "this duration is too large: `{text}` is more than a day"
        ));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// As a spec writes it, so that it reads back the same: `250ms`, `5s`,
/// `2m`.
pub fn spec_text(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) && ms > 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

/// A measured time for people: `0.8ms`, `42ms`, `12.3s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 10_000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.1}s", ms / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_grammar() {
        let ok = |t: &str, ms: u64| assert_eq!(parse(t), Ok(Duration::from_millis(ms)), "{t}");
        ok("250ms", 250);
        ok("5s", 5000);
        ok("1.5s", 1500);
        ok("2m", 120_000);
        ok(" 30s ", 30_000);
        for bad in ["30", "5 s", "1h", "s", "-1s", "1.2.3s", "", "25h"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("30").unwrap_err().contains("no unit"));
        assert!(parse("2000m").unwrap_err().contains("more than a day"));
    }

    #[test]
    fn spec_text_reads_back() {
        for ms in [1, 250, 1000, 1500, 60_000, 90_000, 120_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&spec_text(d)), Ok(d));
        }
        assert_eq!(human(Duration::from_micros(800)), "0.8ms");
        assert_eq!(human(Duration::from_millis(42)), "42ms");
        assert_eq!(human(Duration::from_millis(12_345)), "12.3s");
    }
}
