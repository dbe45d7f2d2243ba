"""Connects over TLS choosing HTTP/2 by ALPN, then sends nothing. Prints "closed" when the
server ends the connection, or "open" (exit 1) if it is still open after 60 s.

Usage: silent_h2_client.py PORT CA_PEM
"""
import socket
import ssl
import sys

port, ca = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=ca)
ctx.set_alpn_protocols(["h2"])
sock = ctx.wrap_socket(
    socket.create_connection(("127.0.0.1", port)), server_hostname="localhost"
)
if sock.selected_alpn_protocol() != "h2":
    print("ALPN chose", sock.selected_alpn_protocol())
    sys.exit(2)
sock.settimeout(60)
try:
    # The server may send its SETTINGS frame first; read until it closes.
    while sock.recv(4096):
        pass
except socket.timeout:
    print("open")
    sys.exit(1)
except (ConnectionError, ssl.SSLError):
    pass
print("closed")
