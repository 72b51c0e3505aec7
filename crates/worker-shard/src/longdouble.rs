//! Just enough of x87 80-bit `long double` arithmetic to make `INCRBYFLOAT` reply exactly as
//! Redis does on x86-64: Redis parses both operands with `strtold`, adds them in `long double`
//! (64-bit mantissa) and prints the sum with `%.17Lf`, trailing zeros removed. An `f64` would
//! print `0.30000000000000004` for `0.1 + 0.2` where Redis prints `0.3`, and different digits
//! for large values, so the arithmetic is emulated: correctly rounded (to nearest, ties to
//! even) parsing, addition and printing, with a small big-integer helper.

/// A finite `long double`: `(-1)^neg * m * 2^e`, `m` normalized (top bit set) unless zero.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct F80 {
    neg: bool,
    m: u64,
    e: i32,
}

impl F80 {
    /// Positive zero.
    pub(crate) const ZERO: F80 = F80 {
        neg: false,
        m: 0,
        e: 0,
    };
}

/// A parsed operand: finite or an infinity (which `strtold` accepts and Redis then rejects
/// as a result).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Parsed {
    Finite(F80),
    Infinite,
}

/// Largest binary exponent of a finite value: values must stay below `2^16384`.
const MAX_EXP: i32 = 16384;
/// Smallest normal value is `2^-16382`; smaller results are treated as underflow.
const MIN_EXP: i32 = -16382;
/// Longest input Redis accepts (`MAX_LONG_DOUBLE_CHARS`).
const MAX_CHARS: usize = 5 * 1024;

/// Little-endian base-2^32 unsigned big integer, only as large as decimal parsing needs.
#[derive(Debug, Clone, PartialEq)]
struct Big(Vec<u32>);

impl Big {
    fn zero() -> Big {
        Big(Vec::new())
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    fn mul_add_small(&mut self, mul: u32, add: u32) {
        let mut carry = add as u64;
        for limb in &mut self.0 {
            let v = *limb as u64 * mul as u64 + carry;
            *limb = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn pow10(n: u32) -> Big {
        let mut b = Big(vec![1]);
        for _ in 0..n {
            b.mul_add_small(10, 0);
        }
        b
    }

    fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(top) => (self.0.len() as u32 - 1) * 32 + (32 - top.leading_zeros()),
        }
    }

    fn bit(&self, i: u32) -> bool {
        self.0
            .get((i / 32) as usize)
            .is_some_and(|l| l >> (i % 32) & 1 == 1)
    }

    /// Whether any of the bits below `i` is set.
    fn any_below(&self, i: u32) -> bool {
        let full = (i / 32) as usize;
        self.0.iter().take(full).any(|&l| l != 0)
            || (!i.is_multiple_of(32)
                && self
                    .0
                    .get(full)
                    .is_some_and(|l| l & ((1 << (i % 32)) - 1) != 0))
    }

    /// Bits `[lo, lo + 64)` as a `u64`.
    fn bits_at(&self, lo: u32) -> u64 {
        (0..64)
            .filter(|&k| self.bit(lo + k))
            .fold(0u64, |acc, k| acc | 1 << k)
    }

    fn shl1_or(&mut self, bit: bool) {
        let mut carry = bit as u32;
        for limb in &mut self.0 {
            let next = *limb >> 31;
            *limb = *limb << 1 | carry;
            carry = next;
        }
        if carry > 0 {
            self.0.push(carry);
        }
    }

    fn ge(&self, other: &Big) -> bool {
        if self.0.len() != other.0.len() {
            return self.0.len() > other.0.len();
        }
        for (a, b) in self.0.iter().rev().zip(other.0.iter().rev()) {
            if a != b {
                return a > b;
            }
        }
        true
    }

    fn sub_assign(&mut self, other: &Big) {
        let mut borrow = 0i64;
        for (i, limb) in self.0.iter_mut().enumerate() {
            let v = *limb as i64 - other.0.get(i).copied().unwrap_or(0) as i64 - borrow;
            borrow = (v < 0) as i64;
            *limb = v.rem_euclid(1 << 32) as u32;
        }
        self.trim();
    }

    /// `self / 10^9` in place, returning the remainder.
    fn div_small(&mut self, d: u32) -> u32 {
        let mut rem = 0u64;
        for limb in self.0.iter_mut().rev() {
            let cur = rem << 32 | *limb as u64;
            *limb = (cur / d as u64) as u32;
            rem = cur % d as u64;
        }
        self.trim();
        rem as u32
    }
}

/// Rounds the 64 bits of `big` starting at bit `lo` to nearest, ties to even, given whether
/// the discarded bits are exactly half, above or below. Returns the mantissa and the exponent
/// adjustment (1 when rounding carried into a new top bit).
fn round64(big: &Big, lo: u32) -> (u64, i32) {
    let m = big.bits_at(lo);
    if lo == 0 {
        return (m, 0);
    }
    let guard = big.bit(lo - 1);
    let sticky = big.any_below(lo - 1);
    let up = guard && (sticky || m & 1 == 1);
    match (up, m.checked_add(1)) {
        (false, _) => (m, 0),
        (true, Some(m)) => (m, 0),
        (true, None) => (1 << 63, 1),
    }
}

fn finite(neg: bool, m: u64, e: i32) -> Option<Parsed> {
    if m == 0 {
        return Some(Parsed::Finite(F80 { neg, m: 0, e: 0 }));
    }
    let top = e + 63;
    if top >= MAX_EXP {
        return None;
    }
    if top < MIN_EXP {
        return None;
    }
    Some(Parsed::Finite(F80 { neg, m, e }))
}

/// Parses `s` as Redis's `string2ld` does (`strtold` on the whole string, no leading space,
/// no NaN, no overflow or underflow to zero). Hexadecimal floats are not supported.
pub(crate) fn parse(s: &[u8]) -> Option<Parsed> {
    if s.is_empty() || s.len() >= MAX_CHARS || s[0].is_ascii_whitespace() {
        return None;
    }
    let (neg, rest) = match s[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(Parsed::Infinite);
    }
    let mut digits = Big::zero();
    let mut exp10: i64 = 0;
    let (mut seen_digit, mut seen_dot) = (false, false);
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            d @ b'0'..=b'9' => {
                seen_digit = true;
                digits.mul_add_small(10, (d - b'0') as u32);
                if seen_dot {
                    exp10 -= 1;
                }
            }
            b'.' if !seen_dot => seen_dot = true,
            b'e' | b'E' if seen_digit => break,
            _ => return None,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    if i < rest.len() {
        // An exponent: `e`, an optional sign and at least one digit.
        let mut j = i + 1;
        let eneg = match rest.get(j) {
            Some(b'-') => {
                j += 1;
                true
            }
            Some(b'+') => {
                j += 1;
                false
            }
            _ => false,
        };
        let exp_digits = &rest[j.min(rest.len())..];
        if exp_digits.is_empty() || !exp_digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let e = exp_digits
            .iter()
            .fold(0i64, |acc, d| (acc * 10 + (d - b'0') as i64).min(1_000_000));
        exp10 += if eneg { -e } else { e };
    }
    digits.trim();
    if digits.0.is_empty() {
        return finite(neg, 0, 0);
    }
    // Beyond these bounds the value certainly overflows or underflows a long double.
    if exp10 + digits.bits() as i64 / 3 > 4933 + 1 || exp10 < -(4951 + MAX_CHARS as i64) {
        return None;
    }
    if exp10 >= 0 {
        let mut n = digits;
        for _ in 0..exp10 {
            n.mul_add_small(10, 0);
        }
        let bits = n.bits();
        let lo = bits.saturating_sub(64);
        let (m, carry) = round64(&n, lo);
        let m = if bits < 64 { m << (64 - bits) } else { m };
        let e = lo as i32 - (64 - bits.min(64)) as i32 + carry;
        return finite(neg, m, e);
    }
    // value = digits / 10^-exp10: divide with enough extra bits for 64 plus guard and sticky.
    let q = Big::pow10((-exp10) as u32);
    let k = (66 + q.bits()).saturating_sub(digits.bits());
    let total = digits.bits() + k;
    let mut quotient = Big::zero();
    let mut rem = Big::zero();
    for idx in (0..total).rev() {
        let bit = idx >= k && digits.bit(idx - k);
        rem.shl1_or(bit);
        let take = rem.ge(&q);
        if take {
            rem.sub_assign(&q);
        }
        quotient.shl1_or(take);
    }
    quotient.trim();
    if !rem.0.is_empty() {
        // Fold the non-zero remainder into a sticky lowest bit below the guard bits.
        quotient.shl1_or(true);
    } else {
        quotient.shl1_or(false);
    }
    let bits = quotient.bits();
    let lo = bits.saturating_sub(64);
    let (m, carry) = round64(&quotient, lo);
    let m = if bits < 64 { m << (64 - bits) } else { m };
    let e = lo as i32 - (64 - bits.min(64)) as i32 - k as i32 - 1 + carry;
    finite(neg, m, e)
}

/// `a + b` rounded to a long double; `None` on overflow.
pub(crate) fn add(a: F80, b: F80) -> Option<F80> {
    if a.m == 0 {
        return Some(b);
    }
    if b.m == 0 {
        return Some(a);
    }
    let (a, b) = if a.e >= b.e { (a, b) } else { (b, a) };
    let d = (a.e - b.e) as u32;
    // 62 guard bits keep the sum below 2^127; bits of `b` shifted out become a sticky bit,
    // far below the rounding position whenever any are lost.
    let big_a = (a.m as u128) << 62;
    let shifted = (b.m as u128) << 62;
    let (mut big_b, lost) = if d >= 128 {
        (0, shifted != 0)
    } else {
        (shifted >> d, shifted & ((1u128 << d) - 1) != 0)
    };
    big_b |= lost as u128;
    let (neg, sum) = if a.neg == b.neg {
        (a.neg, big_a + big_b)
    } else if big_a >= big_b {
        (a.neg, big_a - big_b)
    } else {
        (b.neg, big_b - big_a)
    };
    if sum == 0 {
        return Some(F80 {
            neg: false,
            m: 0,
            e: 0,
        });
    }
    let bits = 128 - sum.leading_zeros();
    let (m, e) = if bits > 64 {
        let sh = bits - 64;
        let m = (sum >> sh) as u64;
        let guard = sum >> (sh - 1) & 1 == 1;
        let sticky = sum & ((1u128 << (sh - 1)) - 1) != 0;
        let up = guard && (sticky || m & 1 == 1);
        match (up, m.checked_add(1)) {
            (true, Some(m)) => (m, sh as i32),
            (true, None) => (1 << 63, sh as i32 + 1),
            (false, _) => (m, sh as i32),
        }
    } else {
        ((sum as u64) << (64 - bits), -((64 - bits) as i32))
    };
    match finite(neg, m, a.e - 62 + e)? {
        Parsed::Finite(f) => Some(f),
        Parsed::Infinite => None,
    }
}

/// Formats like `printf("%.17Lf")` followed by Redis's trimming of trailing zeros (and of
/// `-0` to `0`).
pub(crate) fn format(v: F80) -> String {
    const SCALE: u128 = 100_000_000_000_000_000; // 10^17
    let mut text = String::new();
    if v.neg {
        text.push('-');
    }
    if v.e >= 0 {
        let mut n = Big(vec![v.m as u32, (v.m >> 32) as u32]);
        n.trim();
        for _ in 0..v.e {
            n.shl1_or(false);
        }
        let mut chunks = Vec::new();
        while !n.0.is_empty() {
            chunks.push(n.div_small(1_000_000_000));
        }
        match chunks.split_last() {
            None => text.push('0'),
            Some((first, rest)) => {
                text.push_str(&first.to_string());
                for c in rest.iter().rev() {
                    text.push_str(&format!("{c:09}"));
                }
            }
        }
    } else {
        let s = (-v.e) as u32;
        let p = v.m as u128 * SCALE;
        let q = if s >= 128 {
            0
        } else {
            let q = p >> s;
            let rem = p & ((1u128 << s) - 1);
            let half = 1u128 << (s - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        };
        let (int, frac) = (q / SCALE, q % SCALE);
        text.push_str(&int.to_string());
        let frac = format!("{frac:017}");
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            text.push('.');
            text.push_str(frac);
        }
    }
    if text == "-0" { "0".into() } else { text }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> Option<String> {
        match (parse(a.as_bytes())?, parse(b.as_bytes())?) {
            (Parsed::Finite(a), Parsed::Finite(b)) => add(a, b).map(format),
            _ => None,
        }
    }

    #[test]
    fn matches_redis_on_x86_64() {
        // Each expectation is what redis-server 7.0.15 replied to INCRBYFLOAT.
        assert_eq!(incr("10.5", "0.1").as_deref(), Some("10.6"));
        assert_eq!(incr("0.1", "0.2").as_deref(), Some("0.3"));
        assert_eq!(
            incr("1000", "0.1").as_deref(),
            Some("1000.09999999999999998")
        );
        assert_eq!(incr("3.0e3", "200").as_deref(), Some("3200"));
        assert_eq!(incr("1", "1e-20").as_deref(), Some("1"));
        assert_eq!(
            incr("12345678.9", "0.01").as_deref(),
            Some("12345678.90999999999985448")
        );
        assert_eq!(
            incr("100", "1e21").as_deref(),
            Some("1000000000000000000128")
        );
        assert_eq!(incr("5", "-5.0").as_deref(), Some("0"));
        assert_eq!(incr("0.0000001", "0").as_deref(), Some("0.0000001"));
        assert_eq!(incr("0", "1.5e-5").as_deref(), Some("0.000015"));
        assert_eq!(
            incr("9223372036854775808", "1").as_deref(),
            Some("9223372036854775809")
        );
        assert_eq!(incr("-1", "0.25").as_deref(), Some("-0.75"));
    }

    #[test]
    fn matches_redis_on_random_operands() {
        // Random operands (integers, decimals, exponents) and redis-server 7.0.15's replies.
        const CASES: &[(&str, &str, &str)] = &[
            ("942e-21", "0.75", "0.75"),
            (
                "3960481443532127989",
                "9832976175283",
                "3960491276508303272",
            ),
            (
                "-94029838.9",
                "693175201108697567217",
                "693175201108603537408",
            ),
            ("0.227", "-516765583241390698", "-516765583241390697.78125"),
            (
                "308481817.18675262",
                "277826937.9",
                "586308755.08675262000178918",
            ),
            ("-800e5", "-6200732267295315535", "-6200732267375315535"),
            ("0.000000438", "-46e7", "-459999999.99999956198735163"),
            ("0.000307", "-9.959488124653", "-9.959181124653"),
            ("76e1", "494e-2", "764.94"),
            ("248e-26", "-78096721883236306", "-78096721883236306"),
            (
                "0.0000041",
                "-3421073618955849093375286",
                "-3421073618955849093349376",
            ),
            ("218e1", "0.861", "2180.86099999999999999"),
            ("1092922427116722", "326e6", "1092922753116722"),
            ("0.00734", "0.000024", "0.007364"),
            ("0.000173", "-7670013367147623", "-7670013367147623"),
            ("-113605.686798", "0.0000563", "-113605.68674170000000601"),
            ("810e-22", "0.000000286", "0.000000286"),
            ("0.000700", "0.0155", "0.0162"),
            ("-513552", "174166303", "173652751"),
            ("-991e-21", "0.000000379", "0.000000379"),
            (
                "952e-22",
                "7589720250685639305652643",
                "7589720250685639305461760",
            ),
            (
                "0.0000404",
                "222499198528942925958",
                "222499198528942925952",
            ),
            ("123768759655717", "231e-27", "123768759655717"),
            (
                "9898867670432435317",
                "66667804751908262684",
                "76566672422340698000",
            ),
            ("56250.7107858209", "0.119", "56250.82978582089999975"),
            ("0.00000492", "0.00088", "0.00088492"),
            ("-47351.6", "950.93655845", "-46400.66344155000000171"),
            (
                "-699e14",
                "-6768925340612357548668521",
                "-6768925410512357548883968",
            ),
            ("581e-16", "304e-16", "0.0000000000000885"),
            (
                "739612.893396089785",
                "-60888120.231",
                "-60148507.33760391021496616",
            ),
            ("507063897", "-603e14", "-60299999492936103"),
            ("-84e21", "956e-7", "-84000000000000000000000"),
            ("-69553269", "0.0346", "-69553268.96540000000095461"),
            (
                "680871054.5585797",
                "0.000819",
                "680871054.55939870001748204",
            ),
            (
                "-6223026559828453202063",
                "0.445",
                "-6223026559828453201920",
            ),
            ("-822e21", "0.00000412", "-822000000000000000000000"),
            (
                "-846412535896845022045153",
                "8584263993514974313",
                "-846403951632851507085312",
            ),
            (
                "-336159024.336619854",
                "-680e5",
                "-404159024.3366198540024925",
            ),
            ("5", "-944.012549", "-939.01254899999999998"),
            ("-23631257.8767", "-468e4", "-28311257.87670000000071013"),
            ("0.063", "839e-1", "83.963"),
            (
                "0.000000134",
                "-12719439.25948088",
                "-12719439.25948074600000837",
            ),
            ("16.407017934", "0.0000000743", "16.4070180083"),
            ("-213325495082708763", "0.905", "-213325495082708762.09375"),
            (
                "-62832820",
                "-1426339567216580907970322",
                "-1426339567216580970807296",
            ),
            ("255e2", "5076643.10707291309", "5102143.10707291309017819"),
            (
                "0.000000965",
                "-7712350.81585516036",
                "-7712350.81585419536031623",
            ),
            ("121534.1165796", "0.000075", "121534.11665460000000394"),
            (
                "666.166867",
                "-7234383586603748363431377",
                "-7234383586603748363337728",
            ),
            ("809e-22", "0.0765", "0.0765"),
            ("2898711727477611", "0.000000414", "2898711727477611"),
            ("-137e-18", "-347e-25", "-0.00000000000000014"),
            ("-960e-9", "0.00000721", "0.00000625"),
            ("-987889647263", "14053279", "-987875593984"),
            ("-914985022", "849572.7860", "-914135449.21399999997811392"),
            ("-168e-21", "0.000092", "0.000092"),
            ("-882e21", "9382.880587", "-882000000000000000000000"),
            ("-346974472", "-5457.7", "-346979929.70000000001164153"),
            ("133e-4", "274e-22", "0.0133"),
            (
                "16545488058795941701387",
                "19.3786",
                "16545488058795941701632",
            ),
        ];
        for (a, b, want) in CASES {
            assert_eq!(incr(a, b).as_deref(), Some(*want), "{a} + {b}");
        }
    }

    #[test]
    fn parses_like_string2ld() {
        for bad in [
            "", " 1", "1 ", "abc", "1e", "1e+", ".", "-", "nan", "1.2.3", "0x10", "1e99999",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse(b"inf"), Some(Parsed::Infinite));
        assert_eq!(parse(b"-Infinity"), Some(Parsed::Infinite));
        for good in ["1.", ".5", "+3", "-0", "1E3", "007"] {
            assert!(
                matches!(parse(good.as_bytes()), Some(Parsed::Finite(_))),
                "{good:?}"
            );
        }
    }
}
