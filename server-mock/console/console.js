// uPay agent console: a small client of the agent API (docs/support-protocol.md).
// Every value from the server is shown with textContent, never as HTML: chat text is untrusted.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  // `?sandbox=NAME` works against an isolated sandbox (sent as X-Mock-Sandbox and, for the
  // socket, as a query parameter since browsers cannot set WebSocket headers).
  const sandbox = params.get('sandbox');
  const TYPING_TTL_MS = 6000;

  const state = {
    token: sessionStorage.getItem('upay.agent.token'),
    agent: null,
    current: null, // conversation id
    conversation: null,
    lastSeq: 0,
    socket: null,
    typingSentAt: 0,
    typingTimer: null,
  };

  function headers(json) {
    const h = { 'Accept-Language': 'zh-CN' };
    if (json) h['Content-Type'] = 'application/json';
    if (state.token) h.Authorization = 'Bearer ' + state.token;
    if (sandbox) h['X-Mock-Sandbox'] = sandbox;
    return h;
  }

  async function api(method, path, body) {
    const resp = await fetch(path, {
      method,
      headers: headers(body !== undefined),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (resp.status === 401 && state.agent) {
      signedOut();
      throw new Error('signed out');
    }
    const text = await resp.text();
    const data = text ? JSON.parse(text) : null;
    if (!resp.ok) {
      const err = new Error((data && (data.detail || data.title)) || resp.statusText);
      err.code = data && data.code;
      throw err;
    }
    return data;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function clientId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    return 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function money(minor, currency) {
    const exp = { JPY: 0, KRW: 0, KWD: 3, BHD: 3 }[currency] ?? 2;
    const sign = minor < 0 ? '-' : '';
    const abs = Math.abs(minor);
    const unit = 10 ** exp;
    const major = Math.floor(abs / unit);
    const frac = exp ? '.' + String(abs % unit).padStart(exp, '0') : '';
    return `${sign}${major}${frac} ${currency}`;
  }

  function when(ms) {
    return new Date(ms).toLocaleString('zh-CN', { hour12: false });
  }

  function showError(id, e) {
    $(id).textContent = e ? (e.code ? `${e.code}: ${e.message}` : e.message) : '';
  }

  // ---- Sign-in ----

  async function signIn() {
    showError('signin-error');
    try {
      const s = await api('POST', '/v1/support/agent/sessions', {
        agent_id: $('agent-id').value.trim(),
        password: $('password').value,
      });
      state.token = s.token;
      sessionStorage.setItem('upay.agent.token', s.token);
      await enter(s.agent);
    } catch (e) {
      showError('signin-error', e);
    }
  }

  async function enter(agent) {
    state.agent = agent;
    $('agent-name').textContent = `${agent.name} (${agent.agent_id})`;
    $('online').checked = agent.online;
    $('signin').hidden = true;
    $('whoami').hidden = false;
    $('desk').hidden = false;
    connect();
    await loadQueue();
  }

  function signedOut() {
    state.token = null;
    state.agent = null;
    state.current = null;
    sessionStorage.removeItem('upay.agent.token');
    if (state.socket) state.socket.close();
    state.socket = null;
    $('signin').hidden = false;
    $('whoami').hidden = true;
    $('desk').hidden = true;
  }

  async function signOut() {
    try {
      await api('DELETE', '/v1/support/agent/sessions');
    } catch (_) {
      // Signing out locally is what matters.
    }
    signedOut();
  }

  // ---- Live feed ----

  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const q = new URLSearchParams({ access_token: state.token });
    if (sandbox) q.set('sandbox', sandbox);
    const ws = new WebSocket(`${proto}//${location.host}/v1/support/agent/socket?${q}`);
    state.socket = ws;
    ws.onmessage = (m) => onFrame(JSON.parse(m.data));
    ws.onclose = () => {
      if (state.socket === ws && state.agent) {
        // Reconnect, then reload: whatever happened meanwhile is in the REST views.
        setTimeout(() => { if (state.agent) { connect(); loadQueue(); reloadCurrent(); } }, 1000);
      }
    };
  }

  function onFrame(f) {
    if (f.type === 'queue_changed') {
      loadQueue();
      return;
    }
    if (f.type !== 'event') return;
    const e = f.event;
    if (e.conversation_id !== state.current) {
      loadQueue();
      return;
    }
    const k = e.event;
    if (k.type === 'typing') {
      showTyping(k.typing);
    } else if (k.type === 'message') {
      if (k.message.sender === 'user') showTyping(false);
      appendMessage(k.message);
      markRead();
      loadQueue();
    } else if (k.type === 'read' || k.type === 'delivered') {
      // Receipts are shown in the status line.
      reloadCurrent();
    } else {
      reloadCurrent();
      loadQueue();
    }
  }

  function showTyping(on) {
    clearTimeout(state.typingTimer);
    $('typing').hidden = !on;
    if (on) state.typingTimer = setTimeout(() => { $('typing').hidden = true; }, TYPING_TTL_MS);
  }

  // ---- Queue ----

  function queueItem(item, mine) {
    const li = el('li');
    li.dataset.conversation = item.conversation.id;
    li.dataset.testid = mine ? 'mine-item' : 'waiting-item';
    if (item.conversation.id === state.current) li.classList.add('active');
    li.append(el('div', 'who', item.customer));
    li.append(el('div', 'preview', item.preview || '…'));
    if (!mine && item.conversation.queue_position) {
      li.append(el('div', 'preview', `#${item.conversation.queue_position} · ${item.conversation.handoff_reason || ''}`));
    }
    li.onclick = () => open(item.conversation.id);
    return li;
  }

  async function loadQueue() {
    if (!state.agent) return;
    try {
      const q = await api('GET', '/v1/support/agent/queue');
      $('waiting').replaceChildren(...q.waiting.map((i) => queueItem(i, false)));
      $('mine').replaceChildren(...q.mine.map((i) => queueItem(i, true)));
      $('waiting-count').textContent = String(q.waiting.length);
      $('agents-online').textContent = String(q.agents_online);
    } catch (e) {
      showError('chat-error', e);
    }
  }

  // ---- Conversation ----

  const SENDER = { user: '客户 Customer', bot: '智能客服 Bot', agent: '客服 Agent', system: '系统 System' };

  function appendMessage(m) {
    if (m.seq <= state.lastSeq) return;
    if (m.seq > state.lastSeq + 1 && state.lastSeq > 0) {
      // A gap: fetch what is missing instead of showing messages out of order.
      reloadCurrent();
      return;
    }
    state.lastSeq = m.seq;
    const li = el('li', m.sender);
    li.dataset.seq = String(m.seq);
    li.dataset.testid = 'message';
    li.dataset.sender = m.sender;
    const who = m.sender_name ? `${SENDER[m.sender]} ${m.sender_name}` : SENDER[m.sender];
    li.append(el('span', 'meta', `#${m.seq} ${who} · ${when(m.created_at)}`));
    let text = m.text;
    if (m.csat) text = `★ ${m.csat.score}/5 ${m.csat.comment || ''}`;
    li.append(el('span', 'text', text));
    for (const id of m.attachment_ids || []) {
      const img = el('img');
      img.alt = 'screenshot';
      li.append(img);
      fetch(`/v1/support/agent/attachments/${encodeURIComponent(id)}`, { headers: headers(false) })
        .then((r) => (r.ok ? r.blob() : null))
        .then((b) => { if (b) img.src = URL.createObjectURL(b); });
    }
    $('messages').append(li);
    li.scrollIntoView({ block: 'end' });
  }

  function render(view) {
    const c = view.conversation;
    state.conversation = c;
    $('chat-title').textContent = `${view.customer.name} · ${c.id}`;
    const r = c.receipts;
    $('chat-status').textContent = `${c.status} · 客户已读至 read #${r.user_read_seq}`;
    state.lastSeq = 0;
    $('messages').replaceChildren();
    view.messages.forEach(appendMessage);
    const mine = c.status === 'assigned' && c.agent && c.agent.agent_id === state.agent.agent_id;
    $('pick').disabled = c.status !== 'queued' && c.status !== 'bot';
    $('transfer').disabled = !mine;
    $('resolve').disabled = !mine;
    $('reply').disabled = c.status === 'resolved';
    $('send').disabled = c.status === 'resolved';
    renderCustomer(view.customer);
    markRead();
  }

  function renderCustomer(cu) {
    $('c-name').textContent = cu.name;
    $('c-phone').textContent = cu.phone_masked;
    const status = $('c-status');
    status.textContent = { active: '正常 active', locked: '已锁定 locked', frozen: '已冻结 frozen' }[cu.account_status] || cu.account_status;
    status.className = 'status-' + cu.account_status;
    $('c-since').textContent = when(cu.member_since);
    $('c-balances').replaceChildren(...cu.balances.map((b) =>
      el('li', '', `${money(b.available_minor, b.currency)}${b.pending_minor ? ` (pending ${money(b.pending_minor, b.currency)})` : ''}`)));
    $('c-tx').replaceChildren(...cu.recent_transactions.map((t) => {
      const tr = el('tr');
      tr.dataset.testid = 'transaction';
      tr.append(el('td', '', when(t.created_at)));
      tr.append(el('td', '', `${t.kind}${t.counterparty ? ' · ' + t.counterparty : ''}`));
      tr.append(el('td', t.amount_minor < 0 ? 'neg' : '', money(t.amount_minor, t.currency)));
      tr.append(el('td', '', t.status + (t.failure_code ? ` (${t.failure_code})` : '')));
      return tr;
    }));
    $('c-tickets').replaceChildren(...cu.tickets.map((t) => {
      const li = el('li', '', `${t.id} · ${t.status} · ${t.team} · ${t.subject}`);
      li.dataset.testid = 'ticket';
      li.dataset.status = t.status;
      return li;
    }));
  }

  async function open(id) {
    state.current = id;
    showError('chat-error');
    showTyping(false);
    $('ticket-form').hidden = true;
    try {
      render(await api('GET', `/v1/support/agent/conversations/${encodeURIComponent(id)}`));
    } catch (e) {
      showError('chat-error', e);
    }
    loadQueue();
  }

  async function reloadCurrent() {
    if (!state.current) return;
    try {
      render(await api('GET', `/v1/support/agent/conversations/${encodeURIComponent(state.current)}`));
    } catch (e) {
      // The conversation may have left this agent's view (resolved, taken by someone else).
      showError('chat-error', e);
    }
  }

  async function markRead() {
    const c = state.conversation;
    if (!c || !state.lastSeq || c.receipts.agent_read_seq >= state.lastSeq) return;
    if (c.status !== 'assigned') return;
    try {
      state.conversation = await api('POST', `/v1/support/agent/conversations/${c.id}/receipts`, { read_up_to_seq: state.lastSeq });
    } catch (_) {
      // A missed receipt is resent with the next one.
    }
  }

  async function act(fn) {
    showError('chat-error');
    try {
      await fn();
    } catch (e) {
      showError('chat-error', e);
    }
  }

  function pick() {
    return act(async () => {
      render(await api('POST', `/v1/support/agent/conversations/${state.current}/pick`));
      loadQueue();
    });
  }

  function send(ev) {
    ev.preventDefault();
    const text = $('reply').value.trim();
    if (!text || !state.current) return;
    return act(async () => {
      const id = state.current;
      const sent = await api('PUT', `/v1/support/agent/conversations/${id}/messages/${clientId()}`, { text });
      $('reply').value = '';
      state.typingSentAt = 0;
      api('POST', `/v1/support/agent/conversations/${id}/typing`, { typing: false }).catch(() => {});
      if (state.conversation.status === 'assigned') {
        appendMessage(sent.message);
      } else {
        // Replying took the conversation: show its new state.
        await reloadCurrent();
      }
      loadQueue();
    });
  }

  function typing() {
    const now = Date.now();
    if (!state.current || now - state.typingSentAt < 3000) return;
    state.typingSentAt = now;
    api('POST', `/v1/support/agent/conversations/${state.current}/typing`, { typing: true }).catch(() => {});
  }

  function showTicketForm() {
    $('ticket-form').hidden = false;
    $('ticket-subject').focus();
  }

  function createTicket(ev) {
    ev.preventDefault();
    return act(async () => {
      const t = await api('POST', `/v1/support/agent/conversations/${state.current}/ticket`, {
        subject: $('ticket-subject').value.trim(),
        note: $('ticket-note').value.trim(),
      });
      $('ticket-form').hidden = true;
      $('ticket-subject').value = '';
      $('ticket-note').value = '';
      await reloadCurrent();
      return t;
    });
  }

  function resolve() {
    return act(async () => {
      await api('POST', `/v1/support/agent/conversations/${state.current}/resolve`);
      await reloadCurrent();
      loadQueue();
    });
  }

  function setOnline() {
    return act(async () => {
      state.agent = await api('PUT', '/v1/support/agent/status', { online: $('online').checked });
      loadQueue();
    });
  }

  // ---- Wiring ----

  document.addEventListener('DOMContentLoaded', async () => {
    $('sign-in').onclick = signIn;
    $('password').addEventListener('keydown', (e) => { if (e.key === 'Enter') signIn(); });
    $('sign-out').onclick = signOut;
    $('online').onchange = setOnline;
    $('pick').onclick = pick;
    $('composer').onsubmit = send;
    $('reply').addEventListener('input', typing);
    $('transfer').onclick = showTicketForm;
    $('ticket-form').onsubmit = createTicket;
    $('ticket-cancel').onclick = () => { $('ticket-form').hidden = true; };
    $('resolve').onclick = resolve;
    if (state.token) {
      try {
        await enter(await api('GET', '/v1/support/agent/me'));
      } catch (_) {
        signedOut();
      }
    }
  });
})();
