"""Host baseline judgements without a catalog item of their own.

The checklist has no item for the SSH baseline; these findings are reported in the
evidence of the monthly security audit (OPS-M-01) and tested on their own.
"""

from __future__ import annotations

#: ``sshd -T`` keyword -> the values a hardened server may have.
SSHD_EXPECTED: dict[str, tuple[str, ...]] = {
    "passwordauthentication": ("no",),
    "kbdinteractiveauthentication": ("no",),
    "permitemptypasswords": ("no",),
    "permitrootlogin": ("without-password", "prohibit-password", "no"),
    "x11forwarding": ("no",),
}
WEAK_ALGORITHM_MARKERS = ("sha1", "nistp", "cbc", "md5", "3des", "umac-64", "ssh-rsa,", "dss")


def ssh_findings(state: dict, max_auth_tries: int = 3, grace_time: int = 30) -> list[str]:
    """What is wrong with an sshd (``SshdState`` fact); empty when it is hardened."""
    if not state.get("installed"):
        return []
    config = state.get("config", {})
    findings = [
        f"{key} {config.get(key, 'unset')}"
        for key, allowed in SSHD_EXPECTED.items()
        if config.get(key) not in allowed
    ]
    if int(config.get("maxauthtries", 6)) > max_auth_tries:
        findings.append(f"maxauthtries {config.get('maxauthtries')}")
    if int(config.get("logingracetime", 120)) > grace_time:
        findings.append(f"logingracetime {config.get('logingracetime')}")
    if int(config.get("clientaliveinterval", 0)) == 0:
        findings.append("no idle timeout (clientaliveinterval 0)")
    for key in ("kexalgorithms", "ciphers", "macs", "hostkeyalgorithms"):
        weak = [
            name
            for name in config.get(key, "").split(",")
            if any(marker in name + "," for marker in WEAK_ALGORITHM_MARKERS)
        ]
        if weak:
            findings.append(f"weak {key}: {', '.join(weak)}")
    if state.get("small_moduli"):
        findings.append(f"{state['small_moduli']} DH moduli under 3071 bits")
    weak_keys = [kind for kind in state.get("host_keys", []) if kind in ("dsa", "ecdsa")]
    if weak_keys:
        findings.append("weak host keys: " + ", ".join(weak_keys))
    return findings
