//! Learning the Fellegi-Sunter probabilities from the data with expectation maximisation.
//!
//! The candidate pairs (those sharing a blocking key) are a mixture of matches and
//! non-matches. Starting from a configuration, EM alternates between the probability that
//! each pair is a match given the current m, u and match share (E step) and re-estimating m, u
//! and the share from those probabilities (M step), assuming fields independent given the
//! match status. Missing comparisons are left out of both steps.

use std::collections::HashMap;

use super::compare::{Field, Prepared, compare};
use super::{LevelProbabilities, MatchConfig, Resolver};
use crate::fragment::Fragment;

/// A candidate pair as agreement levels per field (fields missing on either side left out).
pub type Pattern = Vec<(Field, usize)>;

/// What EM learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// The configuration with learned m and u (thresholds and keep-apart pairs kept).
    pub config: MatchConfig,
    /// The share of candidate pairs that are matches.
    pub match_share: f64,
    /// Iterations run.
    pub iterations: usize,
}

/// The comparison patterns of every pair of fragments that share a blocking key.
pub fn candidate_patterns(resolver: &Resolver, fragments: &[Fragment]) -> Vec<Pattern> {
    let mut blocks: HashMap<rapport_store::IndexKey, Vec<usize>> = HashMap::new();
    for (i, f) in fragments.iter().enumerate() {
        for k in resolver.keys(f) {
            if k.kind != rapport_store::IndexKind::SourceRef {
                blocks.entry(k).or_default().push(i);
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = blocks
        .values()
        .flat_map(|members| {
            members.iter().enumerate().flat_map(move |(n, &a)| {
                members[n + 1..]
                    .iter()
                    .map(move |&b| if a < b { (a, b) } else { (b, a) })
            })
        })
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let prepared: Vec<Prepared> = fragments.iter().map(Prepared::new).collect();
    pairs
        .into_iter()
        .map(|(a, b)| {
            compare(&prepared[a], &prepared[b])
                .into_iter()
                .filter_map(|o| o.level.map(|l| (o.field, l)))
                .collect()
        })
        .collect()
}

/// Runs EM from `start` on the candidate patterns until the parameters move less than 1e-6
/// or `max_iterations` is reached.
pub fn estimate(start: &MatchConfig, patterns: &[Pattern], max_iterations: usize) -> Estimate {
    let mut config = start.clone();
    let mut share = 0.1_f64;
    let mut iterations = 0;
    let index = |config: &MatchConfig, f: Field| config.fields.iter().position(|m| m.field == f);
    for _ in 0..max_iterations {
        iterations += 1;
        let mut m_acc: Vec<Vec<f64>> = config
            .fields
            .iter()
            .map(|f| vec![0.0; f.levels.len()])
            .collect();
        let mut u_acc = m_acc.clone();
        let mut match_total = 0.0;
        for p in patterns {
            let mut lm = share.ln();
            let mut lu = (1.0 - share).ln();
            for &(field, level) in p {
                if let Some(i) = index(&config, field) {
                    let lvl = config.fields[i].levels.get(level);
                    if let Some(l) = lvl {
                        lm += l.m.max(1e-9).ln();
                        lu += l.u.max(1e-12).ln();
                    }
                }
            }
            let g = 1.0 / (1.0 + (lu - lm).exp());
            match_total += g;
            for &(field, level) in p {
                if let Some(i) = index(&config, field)
                    && level < m_acc[i].len()
                {
                    m_acc[i][level] += g;
                    u_acc[i][level] += 1.0 - g;
                }
            }
        }
        let mut moved: f64 = 0.0;
        for (i, model) in config.fields.iter_mut().enumerate() {
            let (ms, us): (f64, f64) = (m_acc[i].iter().sum(), u_acc[i].iter().sum());
            if ms <= 0.0 || us <= 0.0 {
                continue;
            }
            for (l, level) in model.levels.iter_mut().enumerate() {
                // A small floor keeps a level never seen in the sample from getting an
                // infinite weight.
                let new = LevelProbabilities {
                    m: ((m_acc[i][l] + 1e-3) / (ms + 1e-3 * m_acc[i].len() as f64)),
                    u: ((u_acc[i][l] + 1e-3) / (us + 1e-3 * u_acc[i].len() as f64)),
                };
                moved = moved
                    .max((new.m - level.m).abs())
                    .max((new.u - level.u).abs());
                *level = new;
            }
        }
        let new_share = (match_total / patterns.len().max(1) as f64).clamp(1e-6, 1.0 - 1e-6);
        moved = moved.max((new_share - share).abs());
        share = new_share;
        if moved < 1e-6 {
            break;
        }
    }
    Estimate {
        config,
        match_share: share,
        iterations,
    }
}
