"""What the conformance checks share: the demo broker's REST API, `riskdeck serve` started on a
configuration of accounts, and the PASS/FAIL report every check prints."""

import http.cookiejar
import json
import os
import socket
import subprocess
import time
import urllib.request


class Rest:
    """The demo broker's MetaApi-shaped REST API, with the same token."""

    def __init__(self, addr, token):
        self.base = f'http://{addr}'
        self.token = token

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={'auth-token': self.token,
                                                  'content-type': 'application/json'})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def accounts(self):
        return sorted(self.call('GET', '/demo/faults'))

    def account(self, account):
        """Account information, open positions and every deal, as REST answers them."""
        base = f'/users/current/accounts/{account}'
        deals, offset = [], 0
        while True:
            page = self.call('GET', f'{base}/history-deals/time/1970-01-01T00:00:00.000Z/'
                                    f'2200-01-01T00:00:00.000Z?offset={offset}&limit=1000')
            deals += page
            offset += len(page)
            if len(page) < 1000:
                break
        return {
            'info': self.call('GET', f'{base}/account-information'),
            'positions': self.call('GET', f'{base}/positions'),
            'deals': deals,
        }


class Riskdeck:
    """`riskdeck serve` on a free port, following the accounts of `account_lines` (TOML)."""

    PASSWORD = 'conformance-admin-password'

    def __init__(self, binary, account_lines):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            self.port = probe.getsockname()[1]
        self.base = f'http://127.0.0.1:{self.port}'
        lines = [
            f'listen = "127.0.0.1:{self.port}"',
            'database_url = "sqlite://riskdeck.db"',
            '[admin]', 'username = "admin"', f'password = "{self.PASSWORD}"',
        ] + account_lines
        with open('riskdeck.toml', 'w') as config:
            config.write('\n'.join(lines) + '\n')
        self.process = subprocess.Popen([binary, 'serve', '--config', 'riskdeck.toml'],
                                        stdout=subprocess.DEVNULL,
                                        env={**os.environ, 'RUST_LOG': 'warn'})
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def sign_in(self, timeout):
        deadline = time.monotonic() + timeout
        body = json.dumps({'username': 'admin', 'password': self.PASSWORD}).encode()
        while True:
            try:
                request = urllib.request.Request(self.base + '/api/auth/login', data=body,
                                                 headers={'content-type': 'application/json'})
                self.opener.open(request, timeout=10).read()
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.2)

    def summary(self, account):
        """`GET /api/accounts/{account}`."""
        with self.opener.open(f'{self.base}/api/accounts/{account}', timeout=10) as response:
            return json.loads(response.read())

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Report:
    """Counts and prints `PASS name` or `FAIL name: why`."""

    def __init__(self):
        self.passed = self.failed = 0

    def check(self, name, why=None):
        if why:
            self.failed += 1
            print(f'FAIL {name}: {why}', flush=True)
        else:
            self.passed += 1
            print(f'PASS {name}', flush=True)

    def run(self, name, check):
        """Runs `check`, which returns what is wrong (or nothing); an exception is a failure."""
        try:
            self.check(name, check())
        except Exception as error:  # noqa: BLE001 - any error fails this check only
            self.check(name, f'{type(error).__name__}: {error}')


def same_amount(a, b):
    return a is not None and b is not None and abs(float(a) - float(b)) < 0.005
