//! Per-tenant reports (issue 20, item 9): chats per day, first-response time, handle time and ratings over a
//! chosen range of days. Read by the tenant's admins and auditors (`admin` or `audit:read`), audited; figures
//! only, never a transcript, a comment or a visitor id.
//!
//! Definitions (docs/PROTOCOL.md 15.13):
//! - a chat belongs to the day it was opened on, in the caller's UTC offset;
//! - first-response time: from the visitor's first message to the first agent message at or after it (chats
//!   with no such pair are not counted);
//! - handle time: from the chat's opening to its close (closed chats only);
//! - median and p90 are nearest-rank percentiles (the smallest value with at least p % of values at or below
//!   it), so every figure is one that was measured;
//! - the rating average is over the chats of the range that were rated, with the count of each score.

use cordon_store::{ReportRow, MAX_REPORT_ROWS};
use serde::Serialize;
use utoipa::ToSchema;

use crate::access::{Principal, Scope};
use crate::audit::{self, Action};
use crate::error::{Refusal, Result};
use crate::Service;

const DAY_MS: i64 = 86_400_000;
/// The longest range one report covers, in days.
pub const MAX_DAYS: i64 = 92;
/// The default range, in days, ending today.
pub const DEFAULT_DAYS: i64 = 7;

/// Durations over a set of chats, in milliseconds; absent when there are none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Timing {
    /// How many chats the figures are over.
    pub count: i64,
    pub median_ms: Option<i64>,
    pub p90_ms: Option<i64>,
    pub mean_ms: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct RatingSummary {
    /// How many chats were rated.
    pub count: i64,
    /// The mean score, 1-5; absent when none was rated.
    pub average: Option<f64>,
    /// How many chats were given 1, 2, 3, 4 and 5 (five counts, in that order).
    pub distribution: Vec<i64>,
}

/// One day of the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReportDay {
    /// `YYYY-MM-DD`, in the report's UTC offset.
    pub date: String,
    pub chats: i64,
    pub first_response_median_ms: Option<i64>,
    pub handle_time_median_ms: Option<i64>,
    pub ratings: i64,
    pub rating_average: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// The first day, `YYYY-MM-DD`.
    pub from: String,
    /// The last day (included), `YYYY-MM-DD`.
    pub to: String,
    /// Minutes east of UTC the days are counted in.
    pub utc_offset_minutes: i64,
    /// Chats opened in the range.
    pub chats: i64,
    /// Of those, how many have ended.
    pub closed: i64,
    pub first_response: Timing,
    pub handle_time: Timing,
    pub rating: RatingSummary,
    /// Every day of the range, oldest first (days without chats too).
    pub days: Vec<ReportDay>,
    /// True when the range held more chats than one report reads (50,000): the figures are over the first.
    pub truncated: bool,
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (`bad_request` otherwise).
fn parse_day(s: &str) -> Result<i64> {
    let ok = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    let ms = ok
        .then(|| cordon_impact::time::parse_rfc3339(&format!("{s}T00:00:00Z")).ok())
        .flatten()
        .ok_or_else(|| Refusal::invalid("dates are YYYY-MM-DD"))?;
    Ok(ms.div_euclid(DAY_MS))
}

fn format_day(day: i64) -> String {
    // `2017-09-27T00:00:00.000Z`: its first ten characters are the date.
    cordon_impact::time::format_millis(day * DAY_MS)[..10].to_string()
}

/// The nearest-rank percentile `p` (1-100) of sorted values.
fn percentile(sorted: &[i64], p: usize) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

fn timing(mut values: Vec<i64>) -> Timing {
    values.sort_unstable();
    let n = values.len() as i64;
    Timing {
        count: n,
        median_ms: percentile(&values, 50),
        p90_ms: percentile(&values, 90),
        mean_ms: (n > 0).then(|| values.iter().sum::<i64>() / n),
    }
}

fn first_response(r: &ReportRow) -> Option<i64> {
    match (r.first_visitor_at, r.first_agent_reply_at) {
        (Some(v), Some(a)) if a >= v => Some(a - v),
        _ => None,
    }
}

fn handle_time(r: &ReportRow) -> Option<i64> {
    r.closed_at.map(|c| (c - r.created_at).max(0))
}

fn average(scores: &[i64]) -> Option<f64> {
    (!scores.is_empty()).then(|| scores.iter().sum::<i64>() as f64 / scores.len() as f64)
}

/// First-response and handle times over a set of chats (the widget's wait estimate, availability.rs).
pub fn recent_timings(rows: &[ReportRow]) -> (Timing, Timing) {
    (
        timing(rows.iter().filter_map(first_response).collect()),
        timing(rows.iter().filter_map(handle_time).collect()),
    )
}

/// The report over `days` days from `first_day` (days since 1970-01-01 in the offset), from the range's rows.
pub fn compute(
    rows: &[ReportRow],
    first_day: i64,
    days: i64,
    offset_minutes: i64,
    truncated: bool,
) -> Report {
    let offset_ms = offset_minutes * 60_000;
    let day_of = |ms: i64| (ms + offset_ms).div_euclid(DAY_MS) - first_day;
    let mut per_day: Vec<Vec<&ReportRow>> = vec![Vec::new(); days.max(0) as usize];
    for r in rows {
        if let Some(bucket) = usize::try_from(day_of(r.created_at))
            .ok()
            .and_then(|d| per_day.get_mut(d))
        {
            bucket.push(r);
        }
    }
    let scores: Vec<i64> = rows.iter().filter_map(|r| r.score).collect();
    let mut distribution = vec![0i64; 5];
    for s in &scores {
        if let Some(slot) = usize::try_from(s - 1)
            .ok()
            .and_then(|i| distribution.get_mut(i))
        {
            *slot += 1;
        }
    }
    let days_out = per_day
        .iter()
        .enumerate()
        .map(|(i, chats)| {
            let day_scores: Vec<i64> = chats.iter().filter_map(|r| r.score).collect();
            ReportDay {
                date: format_day(first_day + i as i64),
                chats: chats.len() as i64,
                first_response_median_ms: timing(
                    chats.iter().filter_map(|r| first_response(r)).collect(),
                )
                .median_ms,
                handle_time_median_ms: timing(
                    chats.iter().filter_map(|r| handle_time(r)).collect(),
                )
                .median_ms,
                ratings: day_scores.len() as i64,
                rating_average: average(&day_scores),
            }
        })
        .collect();
    Report {
        from: format_day(first_day),
        to: format_day(first_day + days - 1),
        utc_offset_minutes: offset_minutes,
        chats: rows.len() as i64,
        closed: rows.iter().filter(|r| r.closed_at.is_some()).count() as i64,
        first_response: timing(rows.iter().filter_map(first_response).collect()),
        handle_time: timing(rows.iter().filter_map(handle_time).collect()),
        rating: RatingSummary {
            count: scores.len() as i64,
            average: average(&scores),
            distribution,
        },
        days: days_out,
        truncated,
    }
}

/// The tenant's report from `from` to `to` (both `YYYY-MM-DD`, both included; the last seven days by default)
/// with days counted at `utc_offset_minutes` east of UTC (-840 to 840). Admins and auditors (`admin` or
/// `audit:read`); audited.
pub async fn report(
    svc: &Service,
    principal: &Principal,
    from: Option<&str>,
    to: Option<&str>,
    utc_offset_minutes: Option<i64>,
) -> Result<Report> {
    if !principal.has(Scope::Admin) && !principal.has(Scope::AuditRead) {
        return Err(Refusal::forbidden());
    }
    let offset = utc_offset_minutes.unwrap_or(0);
    if !(-840..=840).contains(&offset) {
        return Err(Refusal::invalid("utc_offset_minutes is -840 to 840"));
    }
    let offset_ms = offset * 60_000;
    let today = (cordon_store::now_ms() + offset_ms).div_euclid(DAY_MS);
    let last = to.map(parse_day).transpose()?.unwrap_or(today);
    let first = from
        .map(parse_day)
        .transpose()?
        .unwrap_or(last - (DEFAULT_DAYS - 1));
    let days = last - first + 1;
    if days < 1 {
        return Err(Refusal::invalid("from is after to"));
    }
    if days > MAX_DAYS {
        return Err(Refusal::invalid("a report covers at most 92 days"));
    }
    let (from_ms, to_ms) = (first * DAY_MS - offset_ms, (last + 1) * DAY_MS - offset_ms);
    audit::record_read(
        svc,
        principal,
        Action::ReportsRead,
        &format!("reports:{}..{}", format_day(first), format_day(last)),
    )
    .await?;
    let mut rows = svc
        .store
        .report_rows(principal.tenant_id(), from_ms, to_ms, MAX_REPORT_ROWS + 1)
        .await?;
    let truncated = rows.len() as i64 > MAX_REPORT_ROWS;
    rows.truncate(MAX_REPORT_ROWS as usize);
    Ok(compute(&rows, first, days, offset, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        created: i64,
        visitor: Option<i64>,
        reply: Option<i64>,
        closed: Option<i64>,
    ) -> ReportRow {
        ReportRow {
            created_at: created,
            closed_at: closed,
            first_visitor_at: visitor,
            first_agent_reply_at: reply,
            score: None,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[7], 90), Some(7));
        assert_eq!(percentile(&[1, 2, 3, 4], 50), Some(2));
        assert_eq!(percentile(&[1, 2, 3], 50), Some(2));
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!(percentile(&ten, 90), Some(9));
        let eleven: Vec<i64> = (1..=11).collect();
        assert_eq!(percentile(&eleven, 90), Some(10));
    }

    #[test]
    fn days_and_figures() {
        let day = 20_000; // 2024-10-04
        let t0 = day * DAY_MS;
        let mut a = row(
            t0 + 1_000,
            Some(t0 + 2_000),
            Some(t0 + 32_000),
            Some(t0 + 601_000),
        );
        a.score = Some(5);
        let mut b = row(
            t0 + DAY_MS,
            Some(t0 + DAY_MS),
            Some(t0 + DAY_MS + 90_000),
            None,
        );
        b.score = Some(2);
        // An agent who wrote before the visitor did and never after: no first response.
        let c = row(
            t0 + 2 * DAY_MS,
            Some(t0 + 2 * DAY_MS + 5),
            None,
            Some(t0 + 2 * DAY_MS + 60_000),
        );
        let r = compute(&[a, b, c], day, 3, 0, false);
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("2024-10-04", "2024-10-06")
        );
        assert_eq!(r.chats, 3);
        assert_eq!(r.closed, 2);
        assert_eq!(r.first_response.count, 2);
        assert_eq!(r.first_response.median_ms, Some(30_000));
        assert_eq!(r.first_response.p90_ms, Some(90_000));
        assert_eq!(r.handle_time.median_ms, Some(60_000));
        assert_eq!(r.handle_time.p90_ms, Some(600_000));
        assert_eq!(r.rating.distribution, vec![0, 1, 0, 0, 1]);
        assert_eq!(r.rating.average, Some(3.5));
        let per: Vec<i64> = r.days.iter().map(|d| d.chats).collect();
        assert_eq!(per, vec![1, 1, 1]);
        // The days follow the offset: at UTC-1 a chat opened at 00:00:01 UTC belongs to the day before.
        let early = [row(t0 + 1_000, None, None, None)];
        assert_eq!(compute(&early, day, 1, -60, false).days[0].chats, 0);
        assert_eq!(compute(&early, day - 1, 1, -60, false).days[0].chats, 1);
    }

    #[test]
    fn dates_are_checked() {
        assert_eq!(parse_day("1970-01-02").unwrap(), 1);
        for bad in ["2024-13-01", "2024-02-30", "yesterday", "2024-1-01", ""] {
            assert!(parse_day(bad).is_err(), "{bad}");
        }
        assert_eq!(format_day(20_000), "2024-10-04");
    }
}
