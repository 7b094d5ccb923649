//! Seeded simulation of customer bases from known model parameters, for parameter-recovery
//! tests and benchmarks. Deterministic: the same seed gives the same customers on every
//! platform (xoshiro256** seeded by SplitMix64, no external generator).

use crate::bgnbd::BgNbd;
use crate::gamma_gamma::GammaGamma;
use crate::rfm::Rfm;

/// A small deterministic random number generator (xoshiro256**).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        let mut z = seed;
        let mut next = || {
            z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut x = z;
            x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            x ^ (x >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform on the open interval (0, 1).
    pub fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// Exponential with the given rate.
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform().ln() / rate
    }

    /// Gamma with the given shape and rate (Marsaglia and Tsang).
    pub fn gamma(&mut self, shape: f64, rate: f64) -> f64 {
        if shape < 1.0 {
            let u = self.uniform();
            return self.gamma(shape + 1.0, rate) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = (1.0 + c * x).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = self.uniform();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v / rate;
            }
        }
    }

    /// Beta(a, b).
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a, 1.0);
        let y = self.gamma(b, 1.0);
        x / (x + y)
    }

    /// Poisson with the given mean (inversion; for the small means used here).
    pub fn poisson(&mut self, mean: f64) -> u32 {
        let limit = (-mean).exp();
        let mut k = 0;
        let mut p = self.uniform();
        while p > limit && k < 10_000 {
            k += 1;
            p *= self.uniform();
        }
        k
    }
}

/// Simulates `n` customers from a BG/NBD process, acquired at times spread evenly so that
/// their ages run from `min_age` to `max_age`. Spend is 0.
pub fn bgnbd(params: &BgNbd, n: usize, min_age: f64, max_age: f64, seed: u64) -> Vec<Rfm> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let age = if n > 1 {
                min_age + (max_age - min_age) * i as f64 / (n - 1) as f64
            } else {
                max_age
            };
            let lambda = rng.gamma(params.r, params.alpha);
            let p = rng.beta(params.a, params.b);
            let mut t = 0.0;
            let mut frequency = 0;
            let mut recency = 0.0;
            loop {
                t += rng.exponential(lambda);
                if t > age {
                    break;
                }
                frequency += 1;
                recency = t;
                if rng.uniform() < p {
                    break;
                }
            }
            Rfm {
                frequency,
                recency,
                age,
                monetary: 0.0,
            }
        })
        .collect()
}

/// Fills in the average spend of each customer with repeat transactions from a Gamma-Gamma
/// spend process.
pub fn gamma_gamma_spend(params: &GammaGamma, data: &mut [Rfm], seed: u64) {
    let mut rng = Rng::new(seed);
    for d in data.iter_mut() {
        if d.frequency == 0 {
            d.monetary = 0.0;
            continue;
        }
        let nu = rng.gamma(params.q, params.gamma);
        let total: f64 = (0..d.frequency).map(|_| rng.gamma(params.p, nu)).sum();
        d.monetary = total / d.frequency as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generator_moments_are_right() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let g: Vec<f64> = (0..n).map(|_| rng.gamma(2.5, 0.5)).collect();
        let mean = g.iter().sum::<f64>() / n as f64;
        assert!((mean - 5.0).abs() < 0.05, "{mean}");
        let small: f64 = (0..n).map(|_| rng.gamma(0.3, 1.0)).sum::<f64>() / n as f64;
        assert!((small - 0.3).abs() < 0.01, "{small}");
        let b: f64 = (0..n).map(|_| rng.beta(2.0, 6.0)).sum::<f64>() / n as f64;
        assert!((b - 0.25).abs() < 0.005, "{b}");
        let p: f64 = (0..n).map(|_| rng.poisson(3.0) as f64).sum::<f64>() / n as f64;
        assert!((p - 3.0).abs() < 0.02, "{p}");
        assert_eq!(Rng::new(1).next_u64(), Rng::new(1).next_u64());
    }
}
