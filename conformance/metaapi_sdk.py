"""Holds the demo broker's streaming API to MetaApi's own client.

Drives the websocket client of MetaApi's official Python SDK (metaapi-cloud-sdk 29.1.1,
`MetaApiWebsocketClient`, its server URL set with `set_url`) against a running
`riskdeck demo-broker --listen ADDR`: subscribes to every demo account on one client,
waits until the SDK has synchronized each, and checks that the SDK's terminal state (account
information, positions) and history (deals) equal the demo broker's REST answers for the same
accounts. Then books a deposit and checks that the live `update` reaches the SDK.

With `--riskdeck PATH` (the `riskdeck` binary) it also starts `riskdeck serve` following the same
accounts over the same streaming API (Riskdeck's own connector) and checks that what Riskdeck
shows (balance, equity, open positions) equals what MetaApi's SDK holds, the deposit included.

    python metaapi_sdk.py 127.0.0.1:8090 [--token demo-token] [--timeout 60] [--riskdeck PATH]

Prints `PASS name` or `FAIL name: why` per check and `N passed, M failed`; exits non-zero on
any failure. Run it in a scratch directory: the SDK writes `./.metaapi/`. It freezes the demo
accounts while comparing (PUT /demo/faults/*) and clears every fault knob when done.
"""

import argparse
import asyncio
import os
import sys
import tempfile
from datetime import datetime

import pytz
from metaapi_cloud_sdk.clients.metaapi.metaapi_websocket_client import MetaApiWebsocketClient
from metaapi_cloud_sdk.clients.metaapi.synchronization_listener import SynchronizationListener
from metaapi_cloud_sdk.metaapi.memory_history_storage import MemoryHistoryStorage
from metaapi_cloud_sdk.metaapi.models import random_id
from metaapi_cloud_sdk.metaapi.terminal_hash_manager import TerminalHashManager
from metaapi_cloud_sdk.metaapi.terminal_state import TerminalState

from common import Report, Rest, Riskdeck, same_amount

REGION = 'demo'
EPOCH = datetime(1970, 1, 2, tzinfo=pytz.UTC)


def start_riskdeck(binary, addr, token, accounts):
    """`riskdeck serve` following the demo broker's accounts over its streaming API."""
    lines = []
    for account in accounts:
        lines += ['[[accounts]]', f'id = "{account}"', f'name = "{account}"',
                  f'base_url = "http://{addr}"', f'metaapi_account_id = "{account}"',
                  f'token = "{token}"', 'transport = "streaming"']
    return Riskdeck(binary, lines)


def shown_by(riskdeck, account):
    summary = riskdeck.summary(account)
    return summary.get('latest'), summary.get('transport')


def riskdeck_differences(terminal, shown):
    """What differs between what Riskdeck shows and what the SDK holds."""
    latest, transport = shown
    if latest is None:
        return 'nothing shown yet'
    info = terminal.account_information or {}
    wrong = [f'{k} {latest.get(k)} != sdk {info.get(k)}' for k in ('balance', 'equity')
             if not same_amount(latest.get(k), info.get(k))]
    if latest.get('open_positions') != len(terminal.positions):
        wrong.append(f'open positions {latest.get("open_positions")} != sdk {len(terminal.positions)}')
    if transport != 'streaming':
        wrong.append(f'transport {transport}')
    return '; '.join(wrong)


async def agree(riskdeck, account, terminal, timeout):
    """Waits until Riskdeck shows what the SDK holds; the last difference when it does not."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            diff = riskdeck_differences(terminal, await asyncio.to_thread(shown_by, riskdeck, account))
        except OSError as error:
            diff = f'cannot read Riskdeck: {error}'
        if not diff or loop.time() > deadline:
            return diff
        await asyncio.sleep(0.5)


class HashFieldsStub:
    """The REST call the hash manager would make to MetaApi (field lists), answered here."""

    def get_hashing_ignored_field_lists(self, region):
        empty = {'specification': [], 'position': [], 'order': []}
        return {'g1': empty, 'g2': empty}

    async def refresh_ignored_field_lists(self, region):
        pass


class Account:
    """The attributes `TerminalState` reads of an account."""

    def __init__(self, account):
        self.id = account
        self.server = 'RiskdeckDemo-Server'
        self.type = 'cloud-g2'
        self.region = REGION
        self.account_regions = {REGION: account}


class Synchronizer(SynchronizationListener):
    """Asks for a synchronization once authenticated; notes when one finished."""

    def __init__(self, client, account):
        super().__init__()
        self.client = client
        self.account = account
        self.synchronized = asyncio.Event()
        self.orders = None

    async def on_connected(self, instance_index, replicas):
        asyncio.create_task(self.client.synchronize(
            self.account, self.get_instance_number(instance_index),
            self.get_host_name(instance_index), random_id(), EPOCH, EPOCH,
            {'specificationsHashes': [], 'positionsHashes': [], 'ordersHashes': []}))

    async def on_history_orders_synchronized(self, instance_index, synchronization_id):
        self.orders = synchronization_id

    async def on_deals_synchronized(self, instance_index, synchronization_id):
        if self.orders == synchronization_id:
            self.synchronized.set()


def differences(terminal, history, rest):
    """What differs between the SDK's view and the REST answers, by check; empty when equal."""
    out = {}
    info = terminal.account_information or {}
    wrong = [f'{k} {info.get(k)} != {rest["info"].get(k)}' for k in ('balance', 'equity')
             if not same_amount(info.get(k), rest['info'].get(k))]
    if wrong:
        out['account-information'] = '; '.join(wrong)
    sdk_positions = sorted((p['id'], float(p['volume'])) for p in terminal.positions)
    rest_positions = sorted((p['id'], float(p['volume'])) for p in rest['positions'])
    if sdk_positions != rest_positions:
        out['positions'] = f'sdk {sdk_positions} != rest {rest_positions}'
    sdk_deals = sorted(d['id'] for d in history.deals)
    rest_deals = sorted(d['id'] for d in rest['deals'])
    if sdk_deals != rest_deals:
        missing = sorted(set(rest_deals) - set(sdk_deals))
        extra = sorted(set(sdk_deals) - set(rest_deals))
        out['deals'] = f'{len(sdk_deals)} sdk vs {len(rest_deals)} rest; missing {missing[:5]} extra {extra[:5]}'
    return out


async def settle(rest, account, terminal, history, timeout):
    """Waits until the SDK agrees with REST (the stream follows the world tick by tick)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        answers = await asyncio.to_thread(rest.account, account)
        diff = differences(terminal, history, answers)
        if not diff or loop.time() > deadline:
            return diff
        await asyncio.sleep(0.5)


async def run(addr, token, timeout, report, riskdeck_binary=None):
    rest = Rest(addr, token)
    accounts = await asyncio.to_thread(rest.accounts)
    # Hold the world still, so that the SDK and REST can be compared at one moment.
    await asyncio.to_thread(rest.call, 'PUT', '/demo/faults/*', {'frozen': True})
    riskdeck = None
    if riskdeck_binary:
        riskdeck = start_riskdeck(riskdeck_binary, addr, token, accounts)
    client = MetaApiWebsocketClient(None, None, token, {
        'application': 'MetaApi', 'requestTimeout': 10, 'connectTimeout': 10})
    client.set_url(f'http://{addr}')
    followed = {}
    for account in accounts:
        client.add_account_cache(account, {REGION: account})
        terminal = TerminalState(Account(account), TerminalHashManager(HashFieldsStub()), client)
        history = MemoryHistoryStorage()
        await history.initialize(account, 'MetaApi')
        synchronizer = Synchronizer(client, account)
        for listener in (synchronizer, terminal, history):
            client.add_synchronization_listener(account, listener)
        followed[account] = (synchronizer, terminal, history)
        client.ensure_subscribe(account, 0)
    try:
        for account, (synchronizer, terminal, history) in followed.items():
            try:
                await asyncio.wait_for(synchronizer.synchronized.wait(), timeout)
                report.check(f'synchronized {account}')
            except asyncio.TimeoutError:
                report.check(f'synchronized {account}', f'not within {timeout} s')
                continue
            diff = await settle(rest, account, terminal, history, timeout)
            for check in ('account-information', 'positions', 'deals'):
                report.check(f'{check} {account}', diff.get(check))
        if riskdeck:
            await asyncio.to_thread(riskdeck.sign_in, timeout)
            for account, (_, terminal, _) in followed.items():
                report.check(f'riskdeck-shows {account}',
                             await agree(riskdeck, account, terminal, timeout))
        # A deposit while streaming: the `update` packet must bring its deal and balance.
        account = accounts[0]
        _, terminal, history = followed[account]
        await asyncio.to_thread(rest.call, 'POST', f'/demo/balance/{account}', {'amount': '1234.5'})
        diff = await settle(rest, account, terminal, history, timeout)
        report.check(f'live-update {account}', '; '.join(f'{k}: {v}' for k, v in diff.items()))
        if riskdeck:
            report.check(f'riskdeck-live-update {account}',
                         await agree(riskdeck, account, terminal, timeout))
    finally:
        if riskdeck:
            riskdeck.stop()
        await asyncio.to_thread(rest.call, 'PUT', '/demo/faults/*', {})
        await client.close()
        client.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('addr', help='the demo broker, HOST:PORT')
    parser.add_argument('--token', default='demo-token')
    parser.add_argument('--timeout', type=float, default=60)
    parser.add_argument('--riskdeck', help='the riskdeck binary: also check what it shows')
    args = parser.parse_args()
    report = Report()
    with tempfile.TemporaryDirectory(prefix='metaapi-sdk-') as scratch:
        os.chdir(scratch)  # MemoryHistoryStorage writes ./.metaapi/
        try:
            asyncio.run(run(args.addr, args.token, args.timeout, report, args.riskdeck))
        except Exception as error:  # the run itself failed: that is a failed check too
            report.check('run', f'{type(error).__name__}: {error}')
    print(f'{report.passed} passed, {report.failed} failed', flush=True)
    sys.exit(1 if report.failed or not report.passed else 0)


if __name__ == '__main__':
    main()
