"""TLS facts: which network listeners of a host speak TLS.

Installed as ``hardening.facts.tls``.
"""

from __future__ import annotations

from pyinfra.api import FactBase

from hardening.pki import first_certificate

# For every TCP listener not bound to loopback: try a TLS handshake on the loopback side of
# the same port (PostgreSQL and pgBouncer, found by port 5432 or process name, need their
# STARTTLS-like SSLRequest); port 80 reports where it
# redirects; a TLS port also prints its (public) leaf certificate, parsed here with
# ``cryptography``. Bounded: 3 s per port. A port that showed a certificate speaks TLS even when
# it then refuses the probe for lacking a client certificate (mutual TLS).
_PROBE = r"""
command -v openssl >/dev/null 2>&1 || { echo '#no-openssl'; exit 0; }
ss -H -tlnp | awk '{print $4, $NF}' | while read -r local users; do
  addr=${local%:*}; port=${local##*:}
  case "$addr" in 127.*|\[::1\]|::1) continue;; esac
  case "$addr" in 0.0.0.0|\*|\[::\]) addr=127.0.0.1;; esac
  echo "$port $addr $users"
done | sort -u -k1,1n | while read -r port addr users; do
  starttls=""
  case "$port:$users" in
    5432:*|*'"postgres"'*|*'"pgbouncer"'*) starttls="-starttls postgres";;
  esac
  # a server that requires a client certificate (RELP/TLS) may end the handshake with an
  # alert after it showed its certificate: it speaks TLS all the same
  # no CA store: loading it cost ~25 ms CPU per port, and only the exit status and the
  # presented certificate are read (s_client's verification result is not)
  out=$(timeout 3 openssl s_client -connect "$addr:$port" $starttls \
    -no-CAfile -no-CApath -no-CAstore </dev/null 2>/dev/null)
  if [ $? = 0 ] || printf '%s\n' "$out" | grep -q -- '-----BEGIN CERTIFICATE'
  then
    echo "tls:$port:yes"
    printf '%s\n' "$out" | sed -n '/-----BEGIN CERT/,/-----END CERT/p' | sed "s/^/cert:$port:/"
  else
    echo "tls:$port:no"
  fi
  if [ "$port" = 80 ]; then
    answer=$(curl -s -o /dev/null -m 3 -w '%{http_code} %{redirect_url}' "http://$addr/")
    echo "redirect:80:$answer"
  fi
done
echo '#done'
"""


class TlsListeners(FactBase):
    """
    Network TCP listeners (not loopback), whether each completes a TLS handshake, and the
    certificate each TLS port presents (:func:`hardening.pki.describe`).

    .. code:: python

        {"openssl": True, "ports": {22: False, 443: True, 5432: True},
         "redirects": {80: "301 https://example.net/"},
         "certificates": {5432: {"subject": "CN=db1,O=hardening", "san": [...],
                                 "issuer": "...", "not_after": "2027-02-25T17:00:00+00:00"}}}
    """

    @staticmethod
    def default() -> dict:
        return {"openssl": False, "ports": {}, "redirects": {}, "certificates": {}}

    def command(self) -> str:
        return _PROBE

    def process(self, output: list[str]) -> dict:
        fact: dict = {"openssl": "#no-openssl" not in output, "ports": {}, "redirects": {}}
        pem_lines: dict[int, list[str]] = {}
        for line in output:
            kind, _, rest = line.partition(":")
            port_text, _, value = rest.partition(":")
            if not port_text.isdigit():
                continue
            if kind == "tls":
                fact["ports"][int(port_text)] = value == "yes"
            elif kind == "redirect":
                fact["redirects"][int(port_text)] = value.strip()
            elif kind == "cert":
                pem_lines.setdefault(int(port_text), []).append(value)
        fact["certificates"] = {port: first_certificate(lines) for port, lines in pem_lines.items()}
        return fact
