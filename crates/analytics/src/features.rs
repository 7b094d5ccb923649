//! Features for the churn and next-best-product models, built from a customer's history as
//! of a cut day, and the training sets: features at a cut, outcome in the year after it.

use crate::history::Activity;

/// The history features, in order.
pub const FEATURE_NAMES: [&str; 11] = [
    "recency_days",
    "purchase_days_1y",
    "ln_revenue_1y",
    "disruptions_1y",
    "complaints_1y",
    "unresolved_complaints_1y",
    "products_held",
    "digital_share_1y",
    "tenure_years",
    "ln_compensation_1y",
    "revenue_trend",
];

/// A row of features.
pub type FeatureRow = Vec<f64>;

/// The features of one customer as of the history's as-of day: recency, frequency, monetary
/// value, disruptions, complaints (and those unresolved on first contact), products held, channel mix, tenure, compensation received
/// and the revenue trend (log change from the year before). Followed by one 0/1 column per
/// product of `catalogue` the customer holds.
pub fn features(a: &Activity, catalogue: &[String]) -> FeatureRow {
    let t0 = &a.totals[0];
    let recency = a
        .recency_days()
        .map_or(3.0 * 365.0, |d| (d as f64).min(3.0 * 365.0));
    let digital = if a.interactions[0] > 0 {
        a.digital[0] as f64 / a.interactions[0] as f64
    } else {
        0.0
    };
    let ln_rev = |v: f64| v.max(0.0).ln_1p();
    let mut row = Vec::with_capacity(FEATURE_NAMES.len() + catalogue.len());
    row.extend_from_slice(&[
        recency,
        a.purchase_days[0] as f64,
        ln_rev(t0.revenue - t0.refunds),
        a.disruptions[0] as f64,
        a.complaints[0] as f64,
        a.unresolved_complaints[0] as f64,
        a.products.len() as f64,
        digital,
        a.tenure_years(),
        ln_rev(t0.compensation),
        ln_rev(t0.revenue) - ln_rev(a.totals[1].revenue),
    ]);
    row.extend(catalogue.iter().map(|p| if a.holds(p) { 1.0 } else { 0.0 }));
    row
}

/// Churn training set: customers who bought in the year before the cut (`earlier`), labelled
/// `true` when they made no transaction in the year after it (`later` is the same history one
/// year on).
pub fn churn_dataset<'a, I>(pairs: I, catalogue: &[String]) -> (Vec<FeatureRow>, Vec<bool>)
where
    I: IntoIterator<Item = (&'a Activity, &'a Activity)>,
{
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (earlier, later) in pairs {
        if earlier.purchase_days[0] == 0 {
            continue;
        }
        x.push(features(earlier, catalogue));
        y.push(later.purchase_days[0] == 0);
    }
    (x, y)
}

/// Propensity training set for `product`: acquired customers not holding it at the cut,
/// labelled `true` when they bought it in the year after.
pub fn propensity_dataset<'a, I>(
    pairs: I,
    product: &str,
    catalogue: &[String],
) -> (Vec<FeatureRow>, Vec<bool>)
where
    I: IntoIterator<Item = (&'a Activity, &'a Activity)>,
{
    let mut x = Vec::new();
    let mut y = Vec::new();
    for (earlier, later) in pairs {
        if !earlier.acquired() || earlier.holds(product) {
            continue;
        }
        x.push(features(earlier, catalogue));
        y.push(later.holds(product));
    }
    (x, y)
}
