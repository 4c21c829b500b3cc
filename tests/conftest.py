"""Test-wide setup: gevent's monkey patching happens before anything imports ssl.

pyinfra (like its CLI) needs gevent's patched sockets; patching after boto3 or urllib3
imported ssl risks RecursionError, so it happens here, first.
"""

from gevent import monkey

monkey.patch_all()
