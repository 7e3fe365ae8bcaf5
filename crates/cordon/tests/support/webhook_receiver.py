#!/usr/bin/env python3
"""A webhook receiver for Cordon's tests, written apart from Cordon (Python's standard library only), so that
the signature is checked by an independent implementation of the Standard Webhooks scheme:

    signature = base64(HMAC-SHA256(base64decode(secret without "whsec_"), id + "." + timestamp + "." + body))
    header webhook-signature: "v1,<signature>" (several, space-separated, may be sent)

Usage: webhook_receiver.py DIR. It listens on 127.0.0.1 (a free port, written to DIR/port), reads the secret
from DIR/secret and its answer from DIR/mode before each request ("ok": 200; "fail": 500; "fail-first": 500
the first time an id is seen, then 200), and appends one JSON line per request to DIR/requests.jsonl:
{"id", "type", "verified", "fresh", "answered", "body"}.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
SEEN = set()


def read(name, default=""):
    try:
        with open(os.path.join(DIR, name)) as f:
            return f.read().strip()
    except OSError:
        return default


def verify(secret, msg_id, timestamp, body, header):
    if not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for part in header.split(" "):
        version, _, sig = part.partition(",")
        if version == "v1" and hmac.compare_digest(sig, expected):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length)
        msg_id = self.headers.get("webhook-id", "")
        timestamp = self.headers.get("webhook-timestamp", "")
        verified = verify(read("secret"), msg_id, timestamp, body,
                          self.headers.get("webhook-signature", ""))
        try:
            fresh = abs(time.time() - int(timestamp)) < 300
        except ValueError:
            fresh = False
        mode = read("mode", "ok")
        if mode == "fail" or (mode == "fail-first" and msg_id not in SEEN):
            status = 500
        else:
            status = 200
        SEEN.add(msg_id)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        line = {"id": msg_id, "type": (parsed or {}).get("type"), "verified": verified, "fresh": fresh,
                "answered": status, "body": parsed}
        with open(os.path.join(DIR, "requests.jsonl"), "a") as f:
            f.write(json.dumps(line) + "\n")
        self.send_response(status)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"no" if status >= 400 else b"ok")

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
