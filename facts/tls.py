"""TLS facts: which network listeners of a host speak TLS.

Installed as ``hardening.facts.tls``.
"""

from __future__ import annotations

from pyinfra.api import FactBase

# For every TCP listener not bound to loopback: try a TLS handshake on the loopback side of
# the same port (PostgreSQL needs its STARTTLS-like SSLRequest); port 80 reports where it
# redirects. Bounded: 3 s per port.
_PROBE = r"""
command -v openssl >/dev/null 2>&1 || { echo '#no-openssl'; exit 0; }
ss -H -tln | awk '{print $4}' | while read -r local; do
  addr=${local%:*}; port=${local##*:}
  case "$addr" in 127.*|\[::1\]|::1) continue;; esac
  case "$addr" in 0.0.0.0|\*|\[::\]) addr=127.0.0.1;; esac
  echo "$port $addr"
done | sort -u -k1,1n | while read -r port addr; do
  starttls=""; [ "$port" = 5432 ] && starttls="-starttls postgres"
  if timeout 3 openssl s_client -connect "$addr:$port" $starttls -brief \
      </dev/null >/dev/null 2>&1; then
    echo "tls:$port:yes"
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
    Network TCP listeners (not loopback) and whether each completes a TLS handshake.

    .. code:: python

        {"openssl": True, "ports": {22: False, 443: True, 5432: True},
         "redirects": {80: "301 https://example.net/"}}
    """

    @staticmethod
    def default() -> dict:
        return {"openssl": False, "ports": {}, "redirects": {}}

    def command(self) -> str:
        return _PROBE

    def process(self, output: list[str]) -> dict:
        fact: dict = {"openssl": "#no-openssl" not in output, "ports": {}, "redirects": {}}
        for line in output:
            kind, _, rest = line.partition(":")
            port_text, _, value = rest.partition(":")
            if not port_text.isdigit():
                continue
            if kind == "tls":
                fact["ports"][int(port_text)] = value == "yes"
            elif kind == "redirect":
                fact["redirects"][int(port_text)] = value.strip()
        return fact
