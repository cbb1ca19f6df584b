//! What the CPU is, where a route's speed (never its result) depends on it: AMD's family
//! number from CPUID, and the one core the kernels and the buffers treat apart, AMD Zen 4
//! (NOTE: [halved-512] in `kernels::math`, NOTE: [aligned] in `array::aligned`).

/// The CPU's family as AMD numbers it (base family, plus the extended family where the base is
/// 15), if the CPU is AMD's.
pub(crate) fn amd_family() -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::__cpuid;
        // SAFETY: CPUID is in every x86-64 CPU, and leaves 0 and 1 in every one of them
        #[allow(unused_unsafe)]
        let (vendor, id) = unsafe { (__cpuid(0), __cpuid(1)) };
        let name = [vendor.ebx, vendor.edx, vendor.ecx]
            .map(u32::to_le_bytes)
            .concat();
        if name != b"AuthenticAMD" {
            return None;
        }
        let base = (id.eax >> 8) & 0xf;
        let extended = (id.eax >> 20) & 0xff;
        Some(if base == 0xf { base + extended } else { base })
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Whether this CPU is AMD Zen 4: the one core of AMD's family 25 (19h) with AVX-512 (Zen 3,
/// the other, has none). Found on the first call, then cached; false off x86-64.
pub(crate) fn zen4() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        let avx512 = std::is_x86_feature_detected!("avx512f");
        #[cfg(not(target_arch = "x86_64"))]
        let avx512 = false;
        avx512 && amd_family() == Some(25)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The family read from CPUID is the one Linux reports in `/proc/cpuinfo` (where it can be
    /// read), and Zen 4 is of family 25.
    #[test]
    fn the_cpu_family_is_the_one_linux_reports() {
        if zen4() {
            assert_eq!(amd_family(), Some(25));
        }
        let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") else {
            return;
        };
        let field = |name: &str| {
            info.lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_string())
        };
        let (Some(vendor), Some(family)) = (field("vendor_id"), field("cpu family")) else {
            return;
        };
        let want = (cfg!(target_arch = "x86_64") && vendor == "AuthenticAMD")
            .then(|| family.parse::<u32>().expect("a number"));
        assert_eq!(amd_family(), want, "{vendor}, family {family}");
        if want == Some(25) {
            let avx512 = info
                .lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "avx512f"));
            assert_eq!(zen4(), avx512, "family 25, avx512f {avx512}");
        }
    }
}
