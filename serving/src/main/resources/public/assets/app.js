// The chat page: streams answers from /v1/chat/completions, sends votes to /v1/feedback, and
// charts the thumbs-up rate per version from /v1/stats, marking rollbacks, refused candidates and canary verdicts. Plain
// JavaScript and Chart.js.
'use strict';

const userId = localStorage.getItem('kaizen-user') || (() => {
  const id = 'web-' + crypto.randomUUID();
  localStorage.setItem('kaizen-user', id);
  return id;
})();
const conversation = [];
// An inline icon, so the page needs no emoji font; thumbs down is the same shape turned over.
const THUMB = '<svg viewBox="0 0 16 16" width="14" height="14" aria-hidden="true"><path fill="currentColor" ' +
  'd="M1 7h3v8H1zM5 15h6.6a1.5 1.5 0 0 0 1.47-1.2l1.1-5.5A1.5 1.5 0 0 0 12.7 6.5H9.5V3a1.5 1.5 0 0 0-1.5-1.5h-.3L5 7z"/></svg>';

/** fetch with the bearer token when the server asks for one (kept in this browser only). */
async function api(path, options = {}) {
  const headers = Object.assign({'Content-Type': 'application/json'}, options.headers || {});
  const token = localStorage.getItem('kaizen-token');
  if (token) headers.Authorization = 'Bearer ' + token;
  const response = await fetch(path, Object.assign({}, options, {headers}));
  if (response.status === 401) {
    const given = prompt('This server needs its access token:');
    if (given) { localStorage.setItem('kaizen-token', given); return api(path, options); }
  }
  return response;
}

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = 'msg ' + role;
  div.textContent = text;
  document.getElementById('log').appendChild(div);
  div.scrollIntoView({block: 'end'});
  return div;
}

function voteButtons(div, responseId, model) {
  const meta = document.createElement('div');
  meta.className = 'meta';
  const tag = document.createElement('span');
  tag.className = 'version';
  tag.textContent = model;
  meta.appendChild(tag);
  for (const vote of ['up', 'down']) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'vote ' + vote;
    button.innerHTML = THUMB;
    button.title = vote === 'up' ? 'Good answer' : 'Bad answer';
    button.addEventListener('click', async () => {
      const chosen = button.classList.contains('chosen');
      const response = await api('/v1/feedback', {method: 'POST', body: JSON.stringify(
        {response_id: responseId, vote: chosen ? 'clear' : vote, user_id: userId, event_id: crypto.randomUUID()})});
      if (response.ok) {
        meta.querySelectorAll('button').forEach(b => b.classList.remove('chosen'));
        if (!chosen) button.classList.add('chosen');
        refreshStats();
      }
    });
    meta.appendChild(button);
  }
  div.appendChild(meta);
}

async function ask(text) {
  conversation.push({role: 'user', content: text});
  bubble('user', text);
  const div = bubble('assistant', '');
  const response = await api('/v1/chat/completions', {method: 'POST',
    body: JSON.stringify({messages: conversation, stream: true, max_tokens: 128, temperature: 0.7})});
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    div.classList.add('error');
    div.textContent = (body.error && body.error.message) || ('HTTP ' + response.status);
    conversation.pop();
    return;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '', answer = '', id = null, model = null;
  for (;;) {
    const {value, done} = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, {stream: true});
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 2);
      if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
      const chunk = JSON.parse(line.slice(6));
      id = chunk.id;
      model = chunk.model;
      answer += chunk.choices[0].delta.content || '';
      div.textContent = answer;
    }
  }
  if (!answer) {
    div.textContent = '(an empty answer)';
    div.classList.add('empty');
  }
  conversation.push({role: 'assistant', content: answer});
  voteButtons(div, id, model);
}

document.getElementById('ask').addEventListener('submit', async event => {
  event.preventDefault();
  const input = document.getElementById('message');
  const send = document.getElementById('send');
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  send.disabled = true;
  try { await ask(text); } finally { send.disabled = false; input.focus(); }
});

const chart = new Chart(document.getElementById('chart'), {
  type: 'line',
  data: {labels: [], datasets: [
    {label: 'thumbs-up rate', data: [], borderColor: '#0969da', backgroundColor: '#0969da', pointRadius: 2, borderWidth: 2},
    // Marks, on the rate of the version they concern: a rollback at the version that restored an earlier one,
    // a candidate the release gate refused at the version that stayed in service.
    {label: 'rollback', data: [], showLine: false, pointStyle: 'triangle', pointRadius: 7, borderColor: '#cf222e',
      backgroundColor: '#cf222e'},
    {label: 'refused candidate', data: [], showLine: false, pointStyle: 'crossRot', pointRadius: 7, borderWidth: 2,
      borderColor: '#9a6700', backgroundColor: '#9a6700'},
    // The canary's verdicts, on the rate of the release they judged.
    {label: 'canary promoted', data: [], showLine: false, pointStyle: 'rectRot', pointRadius: 7, borderColor: '#1a7f37',
      backgroundColor: '#1a7f37'},
    {label: 'canary rolled back', data: [], showLine: false, pointStyle: 'rectRot', pointRadius: 7, borderColor: '#cf222e',
      backgroundColor: '#ffffff', borderWidth: 2}]},
  options: {animation: false, scales: {y: {min: 0, max: 1, ticks: {format: {style: 'percent'}}}},
    plugins: {tooltip: {callbacks: {afterLabel: c => c.raw.note}}},
    parsing: {xAxisKey: 'x', yAxisKey: 'y'}}
});

async function refreshStats() {
  const response = await api('/v1/stats');
  if (!response.ok) return;
  const stats = await response.json();
  document.getElementById('serving').textContent = stats.model + '@' + stats.serving
    + (stats.candidate >= 0 ? ' (canary @' + stats.candidate + ')' : '');
  const rates = new Map(stats.versions.map(v => ['v' + v.version, v.rate]));
  chart.data.labels = [...rates.keys()];
  chart.data.datasets[0].data = stats.versions.map(v => ({x: 'v' + v.version, y: v.rate, note: (v.up + v.down) + ' votes'}));
  chart.data.datasets[1].data = stats.rollbacks.filter(r => rates.has('v' + r.version))
    .map(r => ({x: 'v' + r.version, y: rates.get('v' + r.version), note: 'rolled back to v' + r.restores}));
  chart.data.datasets[2].data = stats.refused.filter(r => rates.has('v' + r.after))
    .map(r => ({x: 'v' + r.after, y: rates.get('v' + r.after), note: r.reason}));
  [['promote', 3], ['rollback', 4]].forEach(([decision, set]) => {
    chart.data.datasets[set].data = stats.decisions.filter(d => d.decision === decision && rates.has('v' + d.version))
      .map(d => ({x: 'v' + d.version, y: rates.get('v' + d.version), note: d.reason}));
  });
  chart.update();
}

refreshStats();
setInterval(refreshStats, 3000);
