// The agent console in a real browser: pick-up → reply → ticket → resolve, with the user's side
// checked over the API. Needs MOCK_URL (a running mock) and MOCK_SANDBOX; scripts/test-browser.sh
// provides both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.MOCK_URL;
const SANDBOX = process.env.MOCK_SANDBOX || 'browser-test';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const USER_PHONE = '13800138000';
const USER_NAME = '张伟';

assert.ok(BASE, 'MOCK_URL must point at a running mock (use scripts/test-browser.sh)');

async function api(method, path, { token, body, lang = 'zh-CN' } = {}) {
  const headers = { 'X-Mock-Sandbox': SANDBOX, 'Accept-Language': lang };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(BASE + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

/** Signs the demo user in on a new device (answering the SMS step from the mock's outbox). */
async function signInUser() {
  const device = { device_id: 'browser-test-device', name: 'Browser test', platform: 'android' };
  const r = await api('POST', '/v1/auth/login', {
    body: { phone: USER_PHONE, password: 'Demo1234', device },
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  if (r.body.status === 'signed_in') return r.body.tokens.access_token;
  const sms = await api('GET', `/__mock/sms?phone=${USER_PHONE}`);
  const code = sms.body.messages.filter((m) => m.code).at(-1).code;
  const done = await api('POST', '/v1/auth/login/otp', {
    body: { login_ticket: r.body.login_ticket, code },
  });
  assert.equal(done.status, 200, JSON.stringify(done.body));
  return done.body.tokens.access_token;
}

async function eventually(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

let context;
let profile;

before(async () => {
  // A fresh profile every run: no state leaks between runs, nothing is downloaded.
  profile = mkdtempSync(join(tmpdir(), 'upay-console-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await context?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

test('an agent picks up, replies, transfers to the technical team and resolves', async () => {
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));

  // Sign in to the console.
  await page.goto(`${BASE}/console?sandbox=${encodeURIComponent(SANDBOX)}`);
  await page.getByTestId('agent-id').fill('A001');
  await page.getByTestId('password').fill('Agent1234');
  await page.getByTestId('sign-in').click();
  await page.getByTestId('agent-name').filter({ hasText: '小美' }).waitFor();
  assert.equal(await page.getByTestId('online').isChecked(), true, 'signing in makes the agent available');

  // A user asks for a person; the conversation appears in the console's queue by itself.
  const user = await signInUser();
  const conv = await api('POST', '/v1/support/conversations', { token: user });
  assert.ok([200, 201].includes(conv.status), JSON.stringify(conv.body));
  const id = conv.body.id;
  const ask = await api('PUT', `/v1/support/conversations/${id}/messages/b-1`, {
    token: user,
    body: { text: '我的提现一直没到账，转人工' },
  });
  assert.equal(ask.status, 201, JSON.stringify(ask.body));
  assert.equal(ask.body.replies[0].bot.handoff, 'requested');
  const item = page.locator(`[data-testid="waiting-item"][data-conversation="${id}"]`);
  await item.waitFor();
  assert.match(await item.textContent(), /我的提现一直没到账/);

  // Pick up: the customer's account state and recent transactions are shown.
  await item.click();
  await page.getByTestId('pick').click();
  await page.getByTestId('chat-status').filter({ hasText: 'assigned' }).waitFor();
  assert.equal(await page.getByTestId('customer-name').textContent(), USER_NAME);
  assert.match(await page.getByTestId('account-status').textContent(), /active/);
  const agentToken = await page.evaluate(() => sessionStorage.getItem('upay.agent.token'));
  const view = await api('GET', `/v1/support/agent/conversations/${id}`, { token: agentToken });
  assert.equal(view.status, 200);
  assert.equal(
    await page.getByTestId('transaction').count(),
    view.body.customer.recent_transactions.length,
    'the console lists the customer’s recent transactions',
  );
  const joined = await api('GET', `/v1/support/conversations/${id}`, { token: user });
  assert.equal(joined.body.status, 'assigned');
  assert.equal(joined.body.agent.name, '小美');

  // The user types: the console shows it live.
  await api('POST', `/v1/support/conversations/${id}/typing`, { token: user, body: { typing: true } });
  await page.getByTestId('typing').waitFor({ state: 'visible' });

  // Reply (typing in the box sends the agent's typing indicator first).
  await page.getByTestId('reply').fill('您好，我是小美。请问提现是哪天发起的？');
  await page.getByTestId('send').click();
  await page.locator('[data-testid="message"][data-sender="agent"]').waitFor();
  const reply = await eventually('the reply in the user’s history', async () => {
    const page = await api('GET', `/v1/support/conversations/${id}/messages`, { token: user });
    return page.body.messages.find((m) => m.sender === 'agent');
  });
  assert.equal(reply.text, '您好，我是小美。请问提现是哪天发起的？');
  assert.equal(reply.sender_name, '小美');

  // The user's answer arrives in the console over the socket.
  await api('PUT', `/v1/support/conversations/${id}/messages/b-2`, {
    token: user,
    body: { text: '上周五，金额 500 元' },
  });
  await page.locator('[data-testid="message"][data-sender="user"]', { hasText: '上周五' }).waitFor();

  // Transfer to the technical team as a ticket.
  await page.getByTestId('transfer').click();
  await page.getByTestId('ticket-subject').fill('提现超时未到账');
  await page.getByTestId('ticket-note').fill('用户上周五发起提现 500 元，银行未入账');
  await page.getByTestId('ticket-create').click();
  await page.locator('[data-testid="ticket"][data-status="in_progress"]').waitFor();
  const tickets = await api('GET', '/v1/support/tickets', { token: user });
  assert.equal(tickets.body.tickets.length, 1);
  assert.equal(tickets.body.tickets[0].status, 'in_progress');
  assert.equal(tickets.body.tickets[0].team, 'technical');
  assert.equal(tickets.body.tickets[0].conversation_id, id);

  // Resolve: the user is asked to rate it.
  await page.getByTestId('resolve').click();
  await page.getByTestId('chat-status').filter({ hasText: 'resolved' }).waitFor();
  const evs = await api('GET', `/v1/support/conversations/${id}/events?wait_secs=0`, { token: user });
  const kinds = evs.body.events.map((e) => e.event.type);
  for (const k of ['agent_joined', 'ticket_status', 'agent_left', 'csat_request']) {
    assert.ok(kinds.includes(k), `${k} in ${kinds}`);
  }
  const rated = await api('PUT', `/v1/support/conversations/${id}/messages/b-rate`, {
    token: user,
    body: { csat: { resolution: 1, score: 5, comment: '很专业' } },
  });
  assert.equal(rated.status, 201, JSON.stringify(rated.body));

  if (process.env.CONSOLE_SCREENSHOT) {
    await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });
  }
  assert.deepEqual(pageErrors, [], 'no script errors in the console page');
});
