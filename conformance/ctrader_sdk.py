"""Holds the cTrader simulator's protobuf transport to Spotware's own client.

Drives Spotware's official Python SDK (ctrader-open-api 0.9.2: `Client`, `TcpProtocol`,
protobuf over TLS, its generated messages) against a running
`riskdeck demo-broker --ctrader-json ADDR --ctrader-protobuf ADDR --ctrader-ca FILE`, trusting
the simulator's test authority. The SDK authenticates the application (a wrong secret must be
refused with cTrader's error), lists the accounts of the access token, authorizes each, and reads
trader, reconcile, unrealized P/L, deal list and cash flow; a spot subscription must bring spot
events. What the SDK reads must equal the demo broker's REST answers for the same accounts, and,
with `--riskdeck PATH`, what `riskdeck serve` shows when it follows the same accounts through
the simulator's JSON transport (Riskdeck's own cTrader connector): balance, equity, open
positions, then a deposit.

    python ctrader_sdk.py BROKER_ADDR JSON_ADDR PROTOBUF_PORT CA_FILE [--riskdeck PATH]

Prints `PASS name` or `FAIL name: why` per check and `N passed, M failed`; exits non-zero on
any failure. It freezes the demo accounts while comparing (PUT /demo/faults/*) and clears every
fault knob when done.
"""

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time

from twisted.internet import reactor, threads
from ctrader_open_api import Client, Protobuf, TcpProtocol
from ctrader_open_api.messages.OpenApiCommonMessages_pb2 import ProtoErrorRes
from ctrader_open_api.messages.OpenApiMessages_pb2 import (
    ProtoOAAccountAuthReq, ProtoOAApplicationAuthReq, ProtoOACashFlowHistoryListReq,
    ProtoOADealListReq, ProtoOAErrorRes, ProtoOAExecutionEvent, ProtoOAGetAccountListByAccessTokenReq,
    ProtoOAGetPositionUnrealizedPnLReq, ProtoOAReconcileReq, ProtoOASpotEvent,
    ProtoOASubscribeSpotsReq, ProtoOASymbolsListReq, ProtoOATraderReq)

from common import Report, Rest, Riskdeck, same_amount

CLIENT_ID = 'riskdeck-demo'
WEEK_MS = 7 * 24 * 3600 * 1000


class Refused(Exception):
    """cTrader answered with an error."""

    def __init__(self, code, description):
        super().__init__(f'{code}: {description}')
        self.code = code


class Sdk:
    """Spotware's client on the reactor, run in a thread; requests wait for their answers."""

    def __init__(self, port, ca_dir):
        # The SDK builds `ssl:{host}:{port}`; the port carries Twisted's TLS options so that
        # the simulator's test authority is trusted and `localhost` verified.
        self.client = Client('localhost', f'{port}:caCertsDir={ca_dir}', TcpProtocol,
                             numberOfMessagesToSendPerSecond=5)
        self.connected = threading.Event()
        self.spots = queue.Queue()
        self.executions = queue.Queue()
        self.client.setConnectedCallback(lambda _client: self.connected.set())
        self.client.setMessageReceivedCallback(self._received)
        self.thread = threading.Thread(
            target=lambda: reactor.run(installSignalHandlers=False), daemon=True)
        reactor.callWhenRunning(self.client.startService)
        self.thread.start()

    def _received(self, _client, message):
        if message.payloadType == ProtoOASpotEvent().payloadType:
            self.spots.put(Protobuf.extract(message))
        elif message.payloadType == ProtoOAExecutionEvent().payloadType:
            self.executions.put(Protobuf.extract(message))

    def ask(self, request, timeout=10):
        """The answer to `request`, its payload parsed; an error answer raises `Refused`."""
        answer = threads.blockingCallFromThread(
            reactor, self.client.send, request, responseTimeoutInSeconds=timeout)
        payload = Protobuf.extract(answer)
        if isinstance(payload, (ProtoOAErrorRes, ProtoErrorRes)):
            raise Refused(payload.errorCode, payload.description)
        return payload

    def ask_all(self, requests, timeout=20):
        """Several requests at once (the SDK sends five a second); answers in order."""
        def send_all():
            from twisted.internet.defer import gatherResults
            return gatherResults([self.client.send(r, responseTimeoutInSeconds=timeout)
                                  for r in requests], consumeErrors=True)
        answers = threads.blockingCallFromThread(reactor, send_all)
        out = []
        for answer in answers:
            payload = Protobuf.extract(answer)
            if isinstance(payload, (ProtoOAErrorRes, ProtoErrorRes)):
                raise Refused(payload.errorCode, payload.description)
            out.append(payload)
        return out

    def stop(self):
        if reactor.running:
            threads.blockingCallFromThread(reactor, self.client.stopService)
            reactor.callFromThread(reactor.stop)
        self.thread.join(timeout=10)


def start_riskdeck(binary, json_addr, token, accounts):
    """`riskdeck serve` following the accounts through the simulator's JSON transport."""
    lines = []
    for name, ctid in accounts.items():
        lines += ['[[accounts]]', f'id = "{name}"', f'name = "{name}"',
                  '[accounts.ctrader]', f'url = "ws://{json_addr}/"',
                  f'client_id = "{CLIENT_ID}"', f'client_secret = "{token}"',
                  f'access_token = "{token}"', f'account_id = {ctid}']
    return Riskdeck(binary, lines)


def iso_ms(text):
    """Milliseconds since the epoch of MetaApi's ISO time (`2026-12-05T01:02:03.456Z`)."""
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace('Z', '+00:00')).timestamp() * 1000)


def money(value, digits):
    return value / 10 ** digits


class Account:
    """What the SDK read of one account."""

    def __init__(self, name, ctid):
        self.name, self.ctid = name, ctid
        self.balance = self.equity = None
        self.positions = []
        self.deals = []


def read_accounts(sdk, accounts, start_ms, now_ms):
    """Trader, reconcile, unrealized P/L and every deal (a week a request) of each account,
    through the SDK, asked for all accounts at once (the SDK sends five requests a second)."""
    ctids = [a.ctid for a in accounts]
    traders = sdk.ask_all([ProtoOATraderReq(ctidTraderAccountId=c) for c in ctids])
    reconciles = sdk.ask_all([ProtoOAReconcileReq(ctidTraderAccountId=c) for c in ctids])
    pnls = sdk.ask_all([ProtoOAGetPositionUnrealizedPnLReq(ctidTraderAccountId=c)
                        for c in ctids])
    windows = [(t, min(t + WEEK_MS, now_ms)) for t in range(start_ms, now_ms, WEEK_MS)]
    lists = sdk.ask_all([ProtoOADealListReq(ctidTraderAccountId=c, fromTimestamp=f,
                                            toTimestamp=t) for c in ctids for f, t in windows])
    for i, account in enumerate(accounts):
        trader = traders[i].trader
        account.balance = money(trader.balance, trader.moneyDigits)
        account.positions = list(reconciles[i].position)
        account.equity = account.balance + sum(
            money(p.netUnrealizedPnL, pnls[i].moneyDigits)
            for p in pnls[i].positionUnrealizedPnL)
        account.deals = []
        for answer in lists[i * len(windows):(i + 1) * len(windows)]:
            if answer.hasMore:
                raise AssertionError('a week of deals did not fit one answer')
            account.deals += list(answer.deal)


def compare_with_rest(account, rest):
    """What differs between the SDK's reading and the demo broker's REST answers."""
    wrong = []
    info = rest['info']
    if not same_amount(account.balance, info['balance']):
        wrong.append(f"balance {account.balance} != rest {info['balance']}")
    if not same_amount(account.equity, info['equity']):
        wrong.append(f"equity {account.equity} != rest {info['equity']}")
    sdk_positions = sorted(str(p.positionId) for p in account.positions)
    rest_positions = sorted(p['id'] for p in rest['positions'])
    if sdk_positions != rest_positions:
        wrong.append(f'positions {sdk_positions} != rest {rest_positions}')
    trades = {d['id']: d for d in rest['deals']
              if d['type'] in ('DEAL_TYPE_BUY', 'DEAL_TYPE_SELL')}
    sdk_deals = {str(d.dealId): d for d in account.deals}
    if sorted(sdk_deals) != sorted(trades):
        missing = sorted(set(trades) - set(sdk_deals))[:5]
        extra = sorted(set(sdk_deals) - set(trades))[:5]
        wrong.append(f'{len(sdk_deals)} deals vs {len(trades)} on rest; missing {missing} '
                     f'extra {extra}')
    for deal_id, deal in sdk_deals.items():
        rest_deal = trades.get(deal_id)
        if rest_deal is None or not deal.HasField('closePositionDetail'):
            continue
        detail = deal.closePositionDetail
        profit = money(detail.grossProfit, detail.moneyDigits)
        if not same_amount(profit, rest_deal['profit']):
            wrong.append(f'deal {deal_id} profit {profit} != rest {rest_deal["profit"]}')
            break
    return '; '.join(wrong)


def compare_with_riskdeck(riskdeck, account, timeout):
    """Waits until Riskdeck shows what the SDK read; the last difference when it does not."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            latest = riskdeck.summary(account.name).get('latest')
            if latest is None:
                diff = 'nothing shown yet'
            else:
                wrong = [f'{k} {latest.get(k)} != sdk {v}'
                         for k, v in (('balance', account.balance), ('equity', account.equity))
                         if not same_amount(latest.get(k), v)]
                if latest.get('open_positions') != len(account.positions):
                    wrong.append(f"open positions {latest.get('open_positions')} != sdk "
                                 f'{len(account.positions)}')
                diff = '; '.join(wrong)
        except OSError as error:
            diff = f'cannot read Riskdeck: {error}'
        if not diff or time.monotonic() > deadline:
            return diff
        time.sleep(0.5)


def run(args, report):
    rest = Rest(args.broker, args.token)
    ca_dir = tempfile.mkdtemp(prefix='ctrader-ca-')
    shutil.copy(args.ca, os.path.join(ca_dir, 'ca.pem'))
    sdk = Sdk(args.port, ca_dir)
    riskdeck = None
    try:
        if not sdk.connected.wait(args.timeout):
            report.check('connect', f'no TLS connection within {args.timeout} s')
            return
        report.check('connect')

        def wrong_secret():
            try:
                sdk.ask(ProtoOAApplicationAuthReq(clientId=CLIENT_ID, clientSecret='wrong'))
            except Refused as refused:
                return None if refused.code == 'CH_CLIENT_AUTH_FAILURE' else str(refused)
            return 'a wrong client secret was accepted'
        report.run('application-auth refuses a wrong secret', wrong_secret)
        report.run('application-auth', lambda: sdk.ask(ProtoOAApplicationAuthReq(
            clientId=CLIENT_ID, clientSecret=args.token)) and None)

        names = sorted(rest.call('GET', '/demo/faults'))
        listed = sdk.ask(ProtoOAGetAccountListByAccessTokenReq(accessToken=args.token))
        # cTrader's `traderLogin` is the account's number at the broker, MetaApi's `login`.
        by_login = {rest.call('GET', f'/users/current/accounts/{name}/account-information')
                    ['login']: name for name in names}
        accounts = [Account(by_login[a.traderLogin], a.ctidTraderAccountId)
                    for a in listed.ctidTraderAccount if a.traderLogin in by_login]
        report.check('account-list', None if len(accounts) == len(names) else
                     f'{len(listed.ctidTraderAccount)} accounts for the token, '
                     f'{len(accounts)} known by login, the broker has {len(names)}')

        def authorize():
            sdk.ask_all([ProtoOAAccountAuthReq(ctidTraderAccountId=a.ctid,
                                               accessToken=args.token) for a in accounts])
        report.run(f'account-auth ({len(accounts)} accounts)', authorize)

        # Hold the world still, so that the SDK, REST and Riskdeck can be compared at one moment.
        rest.call('PUT', '/demo/faults/*', {'frozen': True})
        if args.riskdeck:
            riskdeck = start_riskdeck(args.riskdeck, args.json, args.token,
                                      {a.name: a.ctid for a in accounts})
        answers = {a.name: rest.account(a.name) for a in accounts}
        # Every deal lies after the first one REST lists.
        first = min((d['time'] for r in answers.values() for d in r['deals']), default=None)
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - WEEK_MS if first is None else iso_ms(first) - 1
        read = None
        try:
            read_accounts(sdk, accounts, start_ms, now_ms)
        except Exception as error:  # noqa: BLE001 - every account's check fails with it
            read = f'{type(error).__name__}: {error}'
        deals = positions = 0
        for account in accounts:
            report.check(f'trader-reconcile-deals {account.name}',
                         read or compare_with_rest(account, answers[account.name]))
            deals += len(account.deals)
            positions += len(account.positions)
        # Equal and empty would prove nothing.
        report.check('history-is-not-empty', None if deals and positions else
                     f'{deals} deals and {positions} open positions in all')
        print(f'# the SDK read {deals} deals and {positions} open positions', flush=True)

        def spots():
            account = accounts[0]
            symbols = sdk.ask(ProtoOASymbolsListReq(ctidTraderAccountId=account.ctid)).symbol
            ids = [s.symbolId for s in symbols]
            sdk.ask(ProtoOASubscribeSpotsReq(ctidTraderAccountId=account.ctid, symbolId=ids))
            event = sdk.spots.get(timeout=args.timeout)
            if event.ctidTraderAccountId != account.ctid or event.symbolId not in ids:
                return f'a spot event for {event.ctidTraderAccountId}/{event.symbolId}'
            if not (event.bid > 0 and event.ask >= event.bid):
                return f'bid {event.bid} ask {event.ask}'
            return None
        report.run('spot-subscription', spots)

        if riskdeck:
            riskdeck.sign_in(args.timeout)
            for account in accounts:
                report.run(f'riskdeck-shows {account.name}',
                           lambda account=account: compare_with_riskdeck(
                               riskdeck, account, args.timeout))
            # A deposit: the SDK's trader, REST and Riskdeck must move together.
            account = accounts[0]

            def deposit():
                rest.call('POST', f'/demo/balance/{account.name}', {'amount': '1234.5'})
                before = account.balance
                read_accounts(sdk, [account], start_ms, int(time.time() * 1000))
                if not same_amount(account.balance - before, 1234.5):
                    return f'the SDK read a balance of {account.balance} after {before}'
                to_ms = int(time.time() * 1000) + 1000
                flows = sdk.ask(ProtoOACashFlowHistoryListReq(
                    ctidTraderAccountId=account.ctid, fromTimestamp=to_ms - WEEK_MS,
                    toTimestamp=to_ms)).depositWithdraw
                if not any(money(f.delta, f.moneyDigits) == 1234.5 for f in flows):
                    return 'the deposit is not in the cash flow history'
                return compare_with_riskdeck(riskdeck, account, args.timeout)
            report.run(f'riskdeck-deposit {account.name}', deposit)

            def deposit_event():
                # cTrader pushes the deposit to every session the account is authorized on.
                deadline = time.monotonic() + args.timeout
                while time.monotonic() < deadline:
                    event = sdk.executions.get(timeout=max(0.1, deadline - time.monotonic()))
                    flow = event.depositWithdraw
                    if (event.ctidTraderAccountId == account.ctid
                            and event.HasField('depositWithdraw')
                            and money(flow.delta, flow.moneyDigits) == 1234.5):
                        return None
                return 'no DEPOSIT_WITHDRAW execution event for the deposit'
            report.run(f'execution-event deposit {account.name}', deposit_event)
    finally:
        if riskdeck:
            riskdeck.stop()
        try:
            rest.call('PUT', '/demo/faults/*', {})
        except OSError:
            pass
        sdk.stop()
        shutil.rmtree(ca_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('broker', help='the demo broker, HOST:PORT')
    parser.add_argument('json', help="the simulator's JSON transport, HOST:PORT")
    parser.add_argument('port', help="the simulator's protobuf transport's port (on localhost)")
    parser.add_argument('ca', help="the PEM of the simulator's test authority")
    parser.add_argument('--token', default='demo-token')
    parser.add_argument('--timeout', type=float, default=60)
    parser.add_argument('--riskdeck', help='the riskdeck binary: also check what it shows')
    args = parser.parse_args()
    report = Report()
    with tempfile.TemporaryDirectory(prefix='ctrader-sdk-') as scratch:
        os.chdir(scratch)
        try:
            run(args, report)
        except Exception as error:  # the run itself failed: that is a failed check too
            report.check('run', f'{type(error).__name__}: {error}')
    print(f'{report.passed} passed, {report.failed} failed', flush=True)
    sys.exit(1 if report.failed or not report.passed else 0)


if __name__ == '__main__':
    main()
