'use strict';
// fhirlake console: a single page driven by the location hash. It talks to the service only
// through the console API: AWS JSON 1.0 control-plane calls (/console/api/healthlake), FHIR REST
// (/console/api/fhir/{id}/r4/...) and the S3 browser (/console/api/s3/...). Data is always put in
// the page as text (textContent), never as markup.
(() => {
  const main = document.getElementById('main');
  let session = null;
  let timers = []; // intervals of the view on screen
  let seq = 0; // navigation counter: a view whose number is stale stops updating

  // ---- DOM helpers ----

  function el(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') { for (const [dk, dv] of Object.entries(v)) if (dv != null) e.dataset[dk] = dv; }
      else if (k === 'value') e.value = v;
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
      if (kid == null || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }

  function clear(node, ...kids) {
    node.replaceChildren(...kids.flat().filter((k) => k != null && k !== false));
    return node;
  }

  function errorBox(err) {
    return el('p', { class: 'error', role: 'alert' }, err instanceof APIError && err.code ? `${err.code}: ${err.message}` : String(err.message || err));
  }

  function every(ms, fn) {
    const mine = seq;
    const id = setInterval(() => {
      if (mine !== seq) return clearInterval(id);
      fn();
    }, ms);
    timers.push(id);
  }

  const nf = new Intl.NumberFormat('en-US');
  const fmtNum = (v) => (v == null ? '–' : nf.format(v));
  const fmtTime = (epoch) => (epoch ? new Date(epoch * 1000).toLocaleString() : '–');
  function fmtDur(sec) {
    if (sec == null || !isFinite(sec) || sec < 0) return '–';
    if (sec < 10) return `${sec.toFixed(1)} s`;
    sec = Math.round(sec);
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    if (h) return `${h} h ${String(m).padStart(2, '0')} min`;
    if (m) return `${m} min ${String(s).padStart(2, '0')} s`;
    return `${s} s`;
  }
  const fmtMB = (v) => (v > 0 && v < 0.1 ? v.toPrecision(2) : v.toFixed(2));
  function fmtBytes(n) {
    if (n == null) return '–';
    if (n < 1024) return `${n} B`;
    const u = ['KiB', 'MiB', 'GiB', 'TiB'];
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
    return `${n.toFixed(1)} ${u[i]}`;
  }
  const uuid = () => (crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join(''));
  const badge = (status) => el('span', { class: `badge s-${status}`, dataset: { status } }, status);
  const terminal = (s) => ['COMPLETED', 'COMPLETED_WITH_ERRORS', 'FAILED', 'CANCEL_COMPLETED', 'CANCEL_FAILED'].includes(s);

  // ---- API ----

  class APIError extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }

  async function request(url, opts = {}) {
    const o = { credentials: 'same-origin', ...opts, headers: { ...(opts.headers || {}) } };
    const method = (o.method || 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'HEAD') o.headers['X-CSRF-Token'] = session ? session.csrfToken : '';
    const resp = await fetch(url, o);
    if (resp.status === 401 && (resp.headers.get('Content-Type') || '').startsWith('application/json')) {
      const body = await resp.clone().json().catch(() => ({}));
      if (body.error && body.error.code === 'NotSignedIn') {
        location.href = '/console/login';
        throw new APIError(401, 'NotSignedIn', 'the session has ended');
      }
    }
    return resp;
  }

  // hl calls a HealthLake operation, exactly as an SDK would (AWS JSON 1.0).
  async function hl(op, body) {
    const resp = await request('/console/api/healthlake', {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-amz-json-1.0', 'X-Amz-Target': `HealthLake.${op}` },
      body: JSON.stringify(body || {}),
    });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const type = String(data.__type || resp.headers.get('X-Amzn-ErrorType') || 'Error').split('#').pop().split(':')[0];
      throw new APIError(resp.status, type, data.Message || data.message || resp.statusText);
    }
    return data;
  }

  async function listAll(op, body, member) {
    let out = [], token;
    for (let i = 0; i < 20; i++) {
      const page = await hl(op, token ? { ...body, NextToken: token } : body);
      out = out.concat(page[member] || []);
      token = page.NextToken;
      if (!token) break;
    }
    return out;
  }

  async function capi(path, opts) {
    const resp = await request(path, opts);
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new APIError(resp.status, data.error ? data.error.code : 'Error', data.error ? data.error.message : resp.statusText);
    return data;
  }

  async function fhir(ds, rel, opts = {}) {
    const resp = await request(`/console/api/fhir/${ds}/r4/${rel}`, { ...opts, headers: { Accept: 'application/fhir+json', ...(opts.headers || {}) } });
    const data = await resp.json().catch(() => null);
    if (!resp.ok) {
      const msg = data && data.issue ? data.issue.map((i) => i.diagnostics || i.code).join('; ') : resp.statusText;
      throw new APIError(resp.status, `HTTP ${resp.status}`, msg);
    }
    return data;
  }

  // fhirRel turns an absolute URL of a Bundle link into a path relative to the store's base.
  function fhirRel(ds, url) {
    const mark = `/datastore/${ds}/r4/`;
    const i = url.indexOf(mark);
    return i < 0 ? null : url.slice(i + mark.length);
  }

  function parseS3(uri) {
    const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri || '');
    return m ? { bucket: m[1], key: m[2] } : null;
  }

  const q = (params) => new URLSearchParams(params).toString();

  // ---- routing ----

  const routes = [
    [/^\/?$/, viewStores],
    [/^\/ds\/([0-9a-f]{32})\/?$/, (id) => { location.replace(`#/ds/${id}/imports`); }],
    [/^\/ds\/([0-9a-f]{32})\/(imports|exports|import|export|resources)$/, viewStore],
    [/^\/ds\/([0-9a-f]{32})\/imports\/([0-9a-f]{32})$/, viewImportJob],
    [/^\/ds\/([0-9a-f]{32})\/exports\/([0-9a-f]{32})$/, viewExportJob],
    [/^\/ds\/([0-9a-f]{32})\/resources\/([A-Za-z]+)\/([A-Za-z0-9.-]{1,64})$/, viewResource],
    [/^\/s3(?:\/([^/]+)(?:\/(.*))?)?$/, viewS3Page],
  ];

  function route() {
    seq++;
    timers.forEach(clearInterval);
    timers = [];
    let hash = location.hash.replace(/^#/, '');
    try { hash = decodeURI(hash); } catch { /* keep it as it is */ }
    const [path, query] = hash.split('?');
    const params = new URLSearchParams(query || '');
    for (const [re, view] of routes) {
      const m = re.exec(path);
      if (m) {
        const mine = seq;
        Promise.resolve(view(...m.slice(1), params)).catch((err) => {
          if (mine === seq) clear(main, errorBox(err));
        });
        return;
      }
    }
    clear(main, el('h1', {}, 'Not found'), el('p', {}, el('a', { href: '#/' }, 'Back to the data stores')));
  }

  // ---- data stores ----

  async function viewStores() {
    const mine = seq;
    const body = el('tbody', { id: 'store-rows' });
    const msg = el('div', { id: 'stores-msg' });
    const name = el('input', { id: 'new-store-name', placeholder: 'name (optional)', maxlength: '256' });
    const preload = el('input', { type: 'checkbox', id: 'new-store-preload' });
    const create = el('form', {
      class: 'inline', id: 'create-store',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const input = { DatastoreTypeVersion: 'R4', ClientToken: uuid() };
        if (name.value.trim()) input.DatastoreName = name.value.trim();
        if (preload.checked) input.PreloadDataConfig = { PreloadDataType: 'SYNTHEA' };
        try {
          await hl('CreateFHIRDatastore', input);
          name.value = '';
          clear(msg);
          refresh();
        } catch (err) { clear(msg, errorBox(err)); }
      },
    }, name, el('label', { class: 'check' }, preload, ' preload Synthea sample'), el('button', { type: 'submit', id: 'create-store-btn' }, 'Create data store'));
    clear(main,
      el('h1', {}, 'Data stores'),
      el('p', { class: 'muted' }, `Account ${session.accountId}, region ${session.region}.`),
      create, msg,
      el('table', { class: 'list', id: 'stores' },
        el('thead', {}, el('tr', {}, ['Name', 'Data store ID', 'Status', 'Created', 'FHIR endpoint', ''].map((t) => el('th', {}, t)))),
        body));
    async function refresh() {
      let stores;
      try {
        stores = await listAll('ListFHIRDatastores', {}, 'DatastorePropertiesList');
      } catch (err) {
        if (mine === seq) clear(msg, errorBox(err));
        return;
      }
      if (mine !== seq) return;
      stores.sort((a, b) => b.CreatedAt - a.CreatedAt);
      clear(body, stores.length ? stores.map(storeRow) : el('tr', {}, el('td', { colspan: '6', class: 'muted' }, 'No data stores yet.')));
    }
    const armed = new Set(); // stores whose Delete was clicked once (kept across refreshes)
    function storeRow(d) {
      const id = d.DatastoreId;
      const del = d.DatastoreStatus === 'ACTIVE' ? el('button', {
        class: 'danger small', dataset: { action: 'delete', armed: armed.has(id) ? '1' : null },
        onclick: async (ev) => {
          const b = ev.currentTarget;
          if (!armed.has(id)) { armed.add(id); b.dataset.armed = '1'; b.textContent = 'Confirm delete'; return; }
          armed.delete(id);
          try { await hl('DeleteFHIRDatastore', { DatastoreId: id }); refresh(); } catch (err) { clear(msg, errorBox(err)); }
        },
      }, armed.has(id) ? 'Confirm delete' : 'Delete') : null;
      const link = d.DatastoreStatus === 'DELETED' ? (d.DatastoreName || '(no name)') : el('a', { href: `#/ds/${d.DatastoreId}/imports` }, d.DatastoreName || '(no name)');
      return el('tr', { dataset: { id: d.DatastoreId, status: d.DatastoreStatus } },
        el('td', {}, link), el('td', {}, el('code', {}, d.DatastoreId)), el('td', {}, badge(d.DatastoreStatus)),
        el('td', {}, fmtTime(d.CreatedAt)), el('td', {}, el('code', { class: 'small' }, d.DatastoreEndpoint)), el('td', {}, del));
    }
    await refresh();
    every(2000, refresh);
  }

  // ---- one data store ----

  async function viewStore(id, tab, params) {
    const mine = seq;
    const d = (await hl('DescribeFHIRDatastore', { DatastoreId: id })).DatastoreProperties;
    if (mine !== seq) return;
    const tabs = [['imports', 'Import jobs'], ['exports', 'Export jobs'], ['import', 'New import'], ['export', 'New export'], ['resources', 'Resources']];
    const content = el('section', { id: 'tab' });
    clear(main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Data stores'), ' / ', d.DatastoreName || d.DatastoreId),
      el('h1', {}, d.DatastoreName || '(no name)', ' ', badge(d.DatastoreStatus)),
      el('dl', { class: 'facts' },
        el('dt', {}, 'ID'), el('dd', {}, el('code', {}, d.DatastoreId)),
        el('dt', {}, 'FHIR endpoint'), el('dd', {}, el('code', {}, d.DatastoreEndpoint)),
        el('dt', {}, 'Created'), el('dd', {}, fmtTime(d.CreatedAt))),
      el('nav', { class: 'tabs' }, tabs.map(([t, label]) => el('a', { href: `#/ds/${id}/${t}`, class: t === tab ? 'active' : null, id: `tab-${t}` }, label))),
      content);
    const views = { imports: importJobs, exports: exportJobs, import: importForm, export: exportForm, resources: resourceSearch };
    await views[tab](content, d, params);
  }

  // progressOf estimates an import's fraction done from bytes read against the input's size.
  function progressOf(job, usage) {
    if (job.JobStatus === 'COMPLETED' || job.JobStatus === 'COMPLETED_WITH_ERRORS') return 1;
    const r = job.JobProgressReport;
    if (!r || !usage || !usage.bytes) return null;
    return Math.min(0.999, (r.TotalSizeOfScannedFilesInMB * 1e6) / usage.bytes);
  }

  const usageCache = new Map();
  function inputUsage(job) {
    const uri = job.InputDataConfig && job.InputDataConfig.S3Uri;
    if (!uri || !session.s3Browser) return Promise.resolve(null);
    if (!usageCache.has(job.JobId)) usageCache.set(job.JobId, capi(`/console/api/s3/usage?${q({ uri })}`).catch(() => null));
    return usageCache.get(job.JobId);
  }

  const counters = [
    ['TotalNumberOfScannedFiles', 'Files scanned'],
    ['TotalNumberOfImportedFiles', 'Files imported'],
    ['TotalNumberOfFilesReadWithCustomerError', 'Files with errors'],
    ['TotalSizeOfScannedFilesInMB', 'MB scanned'],
    ['TotalNumberOfResourcesScanned', 'Resources scanned'],
    ['TotalNumberOfResourcesImported', 'Resources imported'],
    ['TotalNumberOfResourcesWithCustomerError', 'Resources with errors'],
    ['Throughput', 'Resources / s'],
  ];

  // importCard shows one import job with its live progress; update() refreshes it in place.
  function importCard(ds, linked) {
    const title = el(linked ? 'a' : 'span', { class: 'job-title' });
    const status = el('span');
    const bar = el('progress', { max: '100', class: 'bar' });
    const pct = el('span', { class: 'pct' });
    const dl = el('dl', { class: 'counters' });
    const cells = {};
    for (const [k, label] of counters) {
      cells[k] = el('dd', { dataset: { counter: k } }, '–');
      dl.append(el('div', {}, el('dt', {}, label), cells[k]));
    }
    const elapsed = el('dd', { dataset: { counter: 'elapsed' } }, '–');
    const eta = el('dd', { dataset: { counter: 'eta' } }, '–');
    dl.append(el('div', {}, el('dt', {}, 'Elapsed'), elapsed), el('div', {}, el('dt', {}, 'ETA'), eta));
    const message = el('p', { class: 'error', hidden: true });
    const root = el('article', { class: 'job' }, el('header', {}, title, status), el('div', { class: 'bar-row' }, bar, pct), dl, message);
    return {
      root,
      async update(job) {
        root.dataset.jobId = job.JobId;
        root.dataset.status = job.JobStatus;
        title.textContent = job.JobName || job.JobId;
        if (linked) title.href = `#/ds/${ds}/imports/${job.JobId}`;
        clear(status, badge(job.JobStatus));
        const r = job.JobProgressReport || {};
        for (const [k] of counters) cells[k].textContent = r[k] == null ? '–' : k === 'TotalSizeOfScannedFilesInMB' ? fmtMB(r[k]) : fmtNum(r[k]);
        const end = job.EndTime || Date.now() / 1000;
        elapsed.textContent = fmtDur(end - job.SubmitTime);
        message.hidden = !job.Message;
        message.textContent = job.Message || '';
        const usage = await inputUsage(job);
        const f = progressOf(job, usage);
        if (f == null) {
          bar.removeAttribute('value');
          pct.textContent = terminal(job.JobStatus) ? '' : 'starting…';
        } else {
          bar.value = Math.round(f * 1000) / 10;
          pct.textContent = `${(f * 100).toFixed(1)} %`;
        }
        bar.setAttribute('aria-valuenow', f == null ? '' : String(Math.round(f * 100)));
        if (terminal(job.JobStatus)) eta.textContent = 'done';
        else if (f && r.Throughput > 0) {
          const active = r.TotalNumberOfResourcesImported / r.Throughput;
          eta.textContent = fmtDur((active * (1 - f)) / f);
        } else eta.textContent = '–';
      },
    };
  }

  async function importJobs(content, d) {
    const mine = seq;
    const list = el('div', { id: 'import-jobs', class: 'jobs' });
    const msg = el('div');
    clear(content, el('p', {}, el('a', { href: `#/ds/${d.DatastoreId}/import`, class: 'button' }, 'Start an import')), msg, list);
    const cards = new Map();
    async function refresh() {
      let jobs;
      try {
        jobs = (await hl('ListFHIRImportJobs', { DatastoreId: d.DatastoreId, MaxResults: 50 })).ImportJobPropertiesList;
      } catch (err) {
        if (mine === seq) clear(msg, errorBox(err));
        return;
      }
      if (mine !== seq) return;
      clear(msg);
      if (!jobs.length) { clear(list, el('p', { class: 'muted' }, 'No import jobs yet.')); cards.clear(); return; }
      const order = [];
      for (const j of jobs) {
        let c = cards.get(j.JobId);
        if (!c) { c = importCard(d.DatastoreId, true); cards.set(j.JobId, c); }
        c.update(j);
        order.push(c.root);
      }
      clear(list, order);
    }
    await refresh();
    every(1000, refresh);
  }

  async function viewImportJob(ds, jobId) {
    const mine = seq;
    const card = importCard(ds, false);
    const facts = el('dl', { class: 'facts' });
    const outputs = el('section', { id: 'job-output' });
    clear(main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Data stores'), ' / ', el('a', { href: `#/ds/${ds}/imports` }, ds), ' / import ', jobId),
      el('h1', {}, 'Import job'), card.root, facts, outputs);
    let shown = false;
    async function refresh() {
      const job = (await hl('DescribeFHIRImportJob', { DatastoreId: ds, JobId: jobId })).ImportJobProperties;
      if (mine !== seq) return;
      await card.update(job);
      const out = job.JobOutputDataConfig && job.JobOutputDataConfig.S3Configuration;
      clear(facts,
        el('dt', {}, 'Job ID'), el('dd', {}, el('code', {}, job.JobId)),
        el('dt', {}, 'Input'), el('dd', {}, el('code', {}, job.InputDataConfig.S3Uri)),
        el('dt', {}, 'Output folder'), el('dd', {}, el('code', { id: 'output-folder' }, out ? out.S3Uri : '–')),
        el('dt', {}, 'Validation level'), el('dd', {}, job.ValidationLevel || 'strict'),
        el('dt', {}, 'Role'), el('dd', {}, el('code', {}, job.DataAccessRoleArn || '–')),
        el('dt', {}, 'Submitted'), el('dd', {}, fmtTime(job.SubmitTime)),
        el('dt', {}, 'Ended'), el('dd', {}, fmtTime(job.EndTime)));
      if (terminal(job.JobStatus) && !shown && out) {
        shown = true;
        await jobOutput(outputs, ds, out.S3Uri, true);
      }
      return job;
    }
    const job = await refresh();
    if (!terminal(job.JobStatus)) {
      every(1000, async () => {
        try { await refresh(); } catch (err) { clear(outputs, errorBox(err)); }
      });
    }
  }

  // jobOutput lists a job's output folder; for imports it shows the manifest and lets one open
  // the SUCCESS and FAILURE reports.
  async function jobOutput(section, ds, folderURI, isImport) {
    const loc = parseS3(folderURI);
    if (!loc || !session.s3Browser) { clear(section); return; }
    const viewer = el('div', { id: 'report' });
    const manifest = el('pre', { class: 'json', id: 'manifest' }, '…');
    const files = el('tbody');
    clear(section,
      isImport ? el('h2', {}, 'Manifest') : null, isImport ? manifest : null,
      el('h2', {}, isImport ? 'Reports' : 'Output'),
      el('table', { class: 'list', id: 'output-files' }, el('thead', {}, el('tr', {}, el('th', {}, 'Object'), el('th', {}, 'Size'), el('th', {}))), files),
      viewer);
    try {
      const listing = await capi(`/console/api/s3/objects?${q({ bucket: loc.bucket, prefix: loc.key })}`);
      clear(files, listing.objects.length ? listing.objects.map((o) => {
        const rel = o.key.slice(loc.key.length);
        const kind = rel.startsWith('FAILURE/') ? 'failure' : rel.startsWith('SUCCESS/') ? 'success' : 'other';
        return el('tr', { dataset: { key: rel } },
          el('td', {}, el('code', {}, rel)), el('td', {}, fmtBytes(o.size)),
          el('td', {}, rel.endsWith('.json') && kind === 'other' ? null : el('button', {
            class: 'small', dataset: { report: kind },
            onclick: () => reportViewer(viewer, ds, loc.bucket, o.key, kind),
          }, 'View lines')));
      }) : el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'The folder is empty.')));
    } catch (err) { clear(files, el('tr', {}, el('td', { colspan: '3' }, errorBox(err)))); }
    if (isImport) {
      try {
        const resp = await request(`/console/api/s3/object?${q({ bucket: loc.bucket, key: `${loc.key}manifest.json` })}`);
        if (!resp.ok) throw new APIError(resp.status, 'NoManifest', 'the manifest could not be read');
        const text = await resp.text();
        try { manifest.textContent = JSON.stringify(JSON.parse(text), null, 2); } catch { manifest.textContent = text; }
      } catch (err) { clear(manifest, errorBox(err)); }
    }
  }

  // reportViewer shows the lines of a SUCCESS or FAILURE report; a FAILURE line opens its
  // OperationOutcome.
  async function reportViewer(box, ds, bucket, key, kind) {
    const rows = el('tbody');
    const more = el('button', { class: 'secondary', hidden: true }, 'More lines');
    const head = kind === 'failure' ? ['Line', 'Issues', ''] : kind === 'success' ? ['Line', 'Resource', 'Version', 'Status'] : ['#', 'Text'];
    clear(box, el('h3', {}, key.split('/').slice(-2).join('/')),
      el('table', { class: 'list report', id: `report-${kind}` }, el('thead', {}, el('tr', {}, head.map((h) => el('th', {}, h)))), rows), more);
    let next = 0, n = 0;
    async function load() {
      let page;
      try { page = await capi(`/console/api/s3/lines?${q({ bucket, key, offset: next, max: 100 })}`); } catch (err) { box.append(errorBox(err)); return; }
      for (const line of page.lines) rows.append(reportRow(ds, line, kind, ++n));
      next = page.next;
      more.hidden = page.next == null;
    }
    more.addEventListener('click', load);
    await load();
  }

  function reportRow(ds, line, kind, n) {
    let rec = null;
    try { rec = JSON.parse(line.text); } catch { /* shown as text */ }
    const resp = rec && rec.UpdateResourceResponse;
    if (kind === 'failure' && resp) {
      const oo = resp.jsonBlob || {};
      const issues = (oo.issue || []).map((i) => `${i.severity || ''} ${i.code || ''}: ${i.diagnostics || ''}${i.expression ? ` @ ${i.expression.join(', ')}` : ''}`);
      const detail = el('pre', { class: 'json outcome', hidden: true }, JSON.stringify(oo, null, 2));
      const tr = el('tr', { class: 'failure-line', dataset: { line: rec.lineId } },
        el('td', {}, String(rec.lineId)),
        el('td', {}, el('ul', { class: 'issues' }, issues.map((t) => el('li', {}, t))), detail),
        el('td', {}, el('button', { class: 'small', dataset: { action: 'outcome' }, onclick: () => { detail.hidden = !detail.hidden; } }, 'OperationOutcome')));
      return tr;
    }
    if (kind === 'success' && resp && resp.jsonBlob) {
      const r = resp.jsonBlob;
      return el('tr', {}, el('td', {}, String(rec.lineId)),
        el('td', {}, el('a', { href: `#/ds/${ds}/resources/${r.resourceType}/${r.id}` }, `${r.resourceType}/${r.id}`)),
        el('td', {}, r.meta ? r.meta.versionId : ''), el('td', {}, String(resp.statusCode)));
    }
    return el('tr', {}, el('td', {}, String(n)), el('td', {}, el('code', { class: 'wrap' }, line.text)));
  }

  async function exportJobs(content, d) {
    const mine = seq;
    const body = el('tbody', { id: 'export-rows' });
    const msg = el('div');
    clear(content, el('p', {}, el('a', { href: `#/ds/${d.DatastoreId}/export`, class: 'button' }, 'Start an export')), msg,
      el('table', { class: 'list', id: 'export-jobs' }, el('thead', {}, el('tr', {}, ['Job', 'Status', 'Submitted', 'Elapsed', 'Output'].map((t) => el('th', {}, t)))), body));
    async function refresh() {
      let jobs;
      try { jobs = (await hl('ListFHIRExportJobs', { DatastoreId: d.DatastoreId, MaxResults: 50 })).ExportJobPropertiesList; } catch (err) {
        if (mine === seq) clear(msg, errorBox(err));
        return;
      }
      if (mine !== seq) return;
      clear(body, jobs.length ? jobs.map((j) => el('tr', { dataset: { jobId: j.JobId, status: j.JobStatus } },
        el('td', {}, el('a', { href: `#/ds/${d.DatastoreId}/exports/${j.JobId}` }, j.JobName || j.JobId)),
        el('td', {}, badge(j.JobStatus)), el('td', {}, fmtTime(j.SubmitTime)),
        el('td', {}, fmtDur((j.EndTime || Date.now() / 1000) - j.SubmitTime)),
        el('td', {}, el('code', { class: 'small' }, j.OutputDataConfig.S3Configuration.S3Uri)))) :
        el('tr', {}, el('td', { colspan: '5', class: 'muted' }, 'No export jobs yet.')));
    }
    await refresh();
    every(1000, refresh);
  }

  async function viewExportJob(ds, jobId) {
    const mine = seq;
    const facts = el('dl', { class: 'facts' });
    const outputs = el('section', { id: 'job-output' });
    const head = el('h1', {}, 'Export job');
    clear(main, el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Data stores'), ' / ', el('a', { href: `#/ds/${ds}/exports` }, ds), ' / export ', jobId), head, facts, outputs);
    let shown = false;
    async function refresh() {
      const j = (await hl('DescribeFHIRExportJob', { DatastoreId: ds, JobId: jobId })).ExportJobProperties;
      if (mine !== seq) return j;
      clear(head, 'Export job ', badge(j.JobStatus));
      const out = j.OutputDataConfig.S3Configuration;
      clear(facts,
        el('dt', {}, 'Job ID'), el('dd', {}, el('code', {}, j.JobId)),
        el('dt', {}, 'Output folder'), el('dd', {}, el('code', {}, out.S3Uri)),
        el('dt', {}, 'Submitted'), el('dd', {}, fmtTime(j.SubmitTime)),
        el('dt', {}, 'Elapsed'), el('dd', {}, fmtDur((j.EndTime || Date.now() / 1000) - j.SubmitTime)),
        el('dt', {}, 'Message'), el('dd', {}, j.Message || '–'));
      if (terminal(j.JobStatus) && !shown) { shown = true; await jobOutput(outputs, ds, out.S3Uri, false); }
      return j;
    }
    const j = await refresh();
    if (!terminal(j.JobStatus)) every(1000, () => refresh().catch((err) => clear(outputs, errorBox(err))));
  }

  // ---- forms that start jobs ----

  function field(label, input, extra) {
    return el('label', {}, label, el('span', { class: 'with-button' }, input, extra));
  }

  function browseButton(input, title) {
    if (!session.s3Browser) return null;
    return el('button', { type: 'button', class: 'secondary', dataset: { browse: input.id }, onclick: () => pickPrefix(title, input.value, (uri) => { input.value = uri; }) }, 'Browse…');
  }

  function importForm(content, d) {
    const acct = session.accountId, region = session.region;
    const input = el('input', { id: 'import-input', required: true, placeholder: 's3://bucket/prefix/', spellcheck: 'false' });
    const output = el('input', { id: 'import-output', required: true, placeholder: 's3://bucket/prefix/', spellcheck: 'false' });
    const kms = el('input', { id: 'import-kms', required: true, value: `arn:aws:kms:${region}:${acct}:key/fhirlake`, spellcheck: 'false' });
    const role = el('input', { id: 'import-role', required: true, value: `arn:aws:iam::${acct}:role/HealthLakeImport`, spellcheck: 'false' });
    const name = el('input', { id: 'import-name', placeholder: 'optional', maxlength: '64' });
    const level = el('select', { id: 'import-level' }, ['strict', 'structure-only', 'minimal'].map((v) => el('option', { value: v }, v)));
    const msg = el('div', { id: 'import-msg' });
    const form = el('form', {
      class: 'stack', id: 'import-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = {
          DatastoreId: d.DatastoreId, ClientToken: uuid(), DataAccessRoleArn: role.value.trim(),
          InputDataConfig: { S3Uri: input.value.trim() },
          JobOutputDataConfig: { S3Configuration: { S3Uri: output.value.trim(), KmsKeyId: kms.value.trim() } },
          ValidationLevel: level.value,
        };
        if (name.value.trim()) body.JobName = name.value.trim();
        try {
          const out = await hl('StartFHIRImportJob', body);
          location.hash = `#/ds/${d.DatastoreId}/imports/${out.JobId}`;
        } catch (err) { clear(msg, errorBox(err)); }
      },
    },
    field('Input (s3:// folder or object)', input, browseButton(input, 'Choose the input')),
    field('Output folder (s3://)', output, browseButton(output, 'Choose the output folder')),
    field('KMS key ID of the output', kms), field('Data access role ARN', role),
    field('Validation level', level), field('Job name', name),
    msg, el('button', { type: 'submit', id: 'import-start' }, 'Start import'));
    clear(content, el('h2', {}, 'Start an import job'), form);
  }

  function exportForm(content, d) {
    const acct = session.accountId, region = session.region;
    const output = el('input', { id: 'export-output', required: true, placeholder: 's3://bucket/prefix/', spellcheck: 'false' });
    const kms = el('input', { id: 'export-kms', required: true, value: `arn:aws:kms:${region}:${acct}:key/fhirlake` });
    const role = el('input', { id: 'export-role', required: true, value: `arn:aws:iam::${acct}:role/HealthLakeExport` });
    const name = el('input', { id: 'export-name', placeholder: 'optional', maxlength: '64' });
    const msg = el('div');
    const form = el('form', {
      class: 'stack', id: 'export-form',
      onsubmit: async (ev) => {
        ev.preventDefault();
        const body = { DatastoreId: d.DatastoreId, ClientToken: uuid(), DataAccessRoleArn: role.value.trim(),
          OutputDataConfig: { S3Configuration: { S3Uri: output.value.trim(), KmsKeyId: kms.value.trim() } } };
        if (name.value.trim()) body.JobName = name.value.trim();
        try {
          const out = await hl('StartFHIRExportJob', body);
          location.hash = `#/ds/${d.DatastoreId}/exports/${out.JobId}`;
        } catch (err) { clear(msg, errorBox(err)); }
      },
    }, field('Output folder (s3://)', output, browseButton(output, 'Choose the output folder')),
    field('KMS key ID of the output', kms), field('Data access role ARN', role), field('Job name', name),
    msg, el('button', { type: 'submit', id: 'export-start' }, 'Start export'));
    clear(content, el('h2', {}, 'Start an export job'), el('p', { class: 'muted' }, 'Exports every current resource of the data store as NDJSON, one folder per type.'), form);
  }

  // ---- S3 browser ----

  // s3Browser renders a bucket listing into box. nav(bucket, prefix) moves elsewhere; pick, when
  // set, offers "Use this location" and receives the s3:// URI.
  async function s3Browser(box, bucket, prefix, nav, pick) {
    const mine = seq;
    const msg = el('div', { class: 's3-msg' });
    if (!bucket) {
      const rows = el('ul', { class: 'entries', id: 's3-buckets' });
      const name = el('input', { id: 'new-bucket', placeholder: 'new bucket name', pattern: '[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]' });
      clear(box, el('p', { class: 'crumbs' }, 'Buckets'), msg, rows,
        el('form', { class: 'inline', id: 'create-bucket', onsubmit: async (ev) => {
          ev.preventDefault();
          try { await capi('/console/api/s3/buckets', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: name.value.trim() }) }); nav(name.value.trim(), ''); } catch (err) { clear(msg, errorBox(err)); }
        } }, name, el('button', { type: 'submit' }, 'Create bucket')));
      try {
        const { buckets } = await capi('/console/api/s3/buckets');
        clear(rows, buckets.length ? buckets.map((b) => el('li', {}, el('a', { href: '#', class: 'folder', dataset: { bucket: b }, onclick: (ev) => { ev.preventDefault(); nav(b, ''); } }, b))) : el('li', { class: 'muted' }, 'No buckets yet.'));
      } catch (err) { clear(msg, errorBox(err)); }
      return;
    }
    const crumbs = el('p', { class: 'crumbs' }, el('a', { href: '#', onclick: (ev) => { ev.preventDefault(); nav('', ''); } }, 'Buckets'), ' / ');
    const parts = prefix.split('/').filter(Boolean);
    crumbs.append(el('a', { href: '#', onclick: (ev) => { ev.preventDefault(); nav(bucket, ''); } }, bucket));
    parts.forEach((p, i) => crumbs.append(' / ', el('a', { href: '#', onclick: (ev) => { ev.preventDefault(); nav(bucket, `${parts.slice(0, i + 1).join('/')}/`); } }, p)));
    const uri = `s3://${bucket}/${prefix}`;
    const rows = el('ul', { class: 'entries', id: 's3-entries' });
    const more = el('button', { class: 'secondary', hidden: true }, 'More');
    const preview = el('div', { id: 's3-preview' });
    const files = el('input', { type: 'file', multiple: true, id: 's3-files' });
    const sub = el('input', { id: 's3-subfolder', placeholder: 'into subfolder (optional)', spellcheck: 'false' });
    const status = el('span', { class: 'muted', id: 's3-upload-status' });
    const upload = el('form', { class: 'inline upload', id: 's3-upload', onsubmit: async (ev) => {
      ev.preventDefault();
      const list = Array.from(files.files);
      if (!list.length) return;
      const dir = sub.value.trim().replace(/^\/+|\/+$/g, '');
      const base = prefix + (dir ? `${dir}/` : '');
      let done = 0;
      for (const f of list) {
        status.textContent = `uploading ${done + 1} of ${list.length}: ${f.name}`;
        try {
          await capi(`/console/api/s3/object?${q({ bucket, key: base + (f.webkitRelativePath || f.name) })}`, { method: 'PUT', body: f });
        } catch (err) { clear(msg, errorBox(err)); status.textContent = ''; return; }
        done++;
      }
      status.textContent = `uploaded ${done} object${done === 1 ? '' : 's'}`;
      status.dataset.done = String(done);
      files.value = '';
      nav(bucket, base, true);
    } }, files, sub, el('button', { type: 'submit', id: 's3-upload-btn' }, 'Upload'), status);
    clear(box, crumbs,
      pick ? el('p', {}, el('button', { type: 'button', id: 's3-use', onclick: () => pick(uri) }, `Use ${uri}`)) : null,
      msg, rows, more, upload, preview);
    let after = '';
    async function load() {
      let page;
      try { page = await capi(`/console/api/s3/objects?${q({ bucket, prefix, delimiter: '/', after, max: 200 })}`); } catch (err) { clear(msg, errorBox(err)); return; }
      if (mine !== seq) return;
      for (const p of page.prefixes) {
        rows.append(el('li', {}, el('a', { href: '#', class: 'folder', dataset: { prefix: p }, onclick: (ev) => { ev.preventDefault(); nav(bucket, p); } }, `${p.slice(prefix.length)}`)));
      }
      for (const o of page.objects) {
        rows.append(el('li', { dataset: { key: o.key } },
          el('a', { href: '#', class: 'object', onclick: (ev) => { ev.preventDefault(); previewObject(preview, bucket, o.key); } }, o.key.slice(prefix.length)),
          el('span', { class: 'muted' }, ` ${fmtBytes(o.size)}`),
          pick ? el('button', { type: 'button', class: 'small secondary', onclick: () => pick(`s3://${bucket}/${o.key}`) }, 'Use') : null));
      }
      if (!rows.children.length) rows.append(el('li', { class: 'muted' }, 'Nothing here yet: upload files below.'));
      after = page.next || '';
      more.hidden = !page.next;
    }
    more.addEventListener('click', load);
    await load();
  }

  async function previewObject(box, bucket, key) {
    try {
      const page = await capi(`/console/api/s3/lines?${q({ bucket, key, max: 20 })}`);
      clear(box, el('h3', {}, key), el('pre', { class: 'json' }, page.lines.map((l) => l.text).join('\n') + (page.next != null ? '\n…' : '')));
    } catch (err) { clear(box, errorBox(err)); }
  }

  function viewS3Page(bucket, prefix) {
    if (!session.s3Browser) { clear(main, el('h1', {}, 'S3 browser'), el('p', {}, 'Not available: the service uses an external S3 endpoint.')); return; }
    const box = el('section', { id: 's3' });
    clear(main, el('h1', {}, 'S3 browser'), box);
    const nav = (b, p, reload) => {
      const h = b ? `#/s3/${b}/${p}` : '#/s3';
      if (location.hash === h && reload) route(); else location.hash = h;
    };
    return s3Browser(box, bucket || '', prefix || '', nav, null);
  }

  function pickPrefix(title, current, done) {
    const dlg = document.getElementById('picker');
    const box = el('div', { class: 'picker-body' });
    clear(dlg, el('header', {}, el('h2', {}, title), el('button', { type: 'button', class: 'secondary', onclick: () => dlg.close() }, 'Close')), box);
    const cur = parseS3(current);
    const nav = (b, p) => s3Browser(box, b, p, nav, (uri) => { done(uri); dlg.close(); });
    dlg.showModal();
    let prefix = cur ? cur.key : '';
    if (prefix && !prefix.endsWith('/')) prefix = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    nav(cur ? cur.bucket : '', prefix);
  }

  // ---- FHIR resources ----

  const typeCache = new Map();
  async function resourceTypes(ds) {
    if (!typeCache.has(ds)) {
      typeCache.set(ds, fhir(ds, 'metadata').then((cs) => (cs.rest && cs.rest[0] && cs.rest[0].resource || []).map((r) => r.type).sort()));
    }
    return typeCache.get(ds);
  }

  function summary(r) {
    if (r.resourceType === 'Patient' || r.resourceType === 'Practitioner') {
      const n = (r.name || [])[0] || {};
      const name = [(n.given || []).join(' '), n.family].filter(Boolean).join(' ') || n.text;
      return [name, r.gender, r.birthDate].filter(Boolean).join(' · ');
    }
    const code = r.code || r.vaccineCode || r.medicationCodeableConcept || (r.type && r.type[0]) || (r.category && r.category[0]);
    const text = code && (code.text || (code.coding && code.coding[0] && (code.coding[0].display || code.coding[0].code)));
    return [r.name, text, r.status].filter((x) => typeof x === 'string' && x).join(' · ');
  }

  async function resourceSearch(content, d, params) {
    const ds = d.DatastoreId;
    const type = el('select', { id: 'search-type' });
    const query = el('input', { id: 'search-params', placeholder: 'e.g. gender=female&birthdate=ge1970', spellcheck: 'false', value: params.get('q') || '' });
    const results = el('div', { id: 'search-results' });
    const form = el('form', { class: 'inline', id: 'search-form', onsubmit: (ev) => {
      ev.preventDefault();
      location.hash = `#/ds/${ds}/resources?${q({ type: type.value, q: query.value.trim() })}`;
    } }, type, query, el('button', { type: 'submit', id: 'search-btn' }, 'Search'));
    clear(content, el('h2', {}, 'Search resources'), form, results);
    const types = await resourceTypes(ds);
    const want = params.get('type') || 'Patient';
    clear(type, types.map((t) => el('option', { value: t, selected: t === want }, t)));
    if (!params.has('type')) return;
    const qs = new URLSearchParams(params.get('q') || '');
    if (!qs.has('_count')) qs.set('_count', '20');
    await showBundle(results, ds, `${encodeURIComponent(want)}?${qs}`);
  }

  async function showBundle(box, ds, rel) {
    let b;
    try { b = await fhir(ds, rel); } catch (err) { clear(box, errorBox(err)); return; }
    const next = (b.link || []).find((l) => l.relation === 'next');
    const rows = (b.entry || []).filter((e) => e.resource).map((e) => {
      const r = e.resource;
      return el('tr', { dataset: { id: r.id, type: r.resourceType } },
        el('td', {}, el('a', { href: `#/ds/${ds}/resources/${r.resourceType}/${r.id}` }, `${r.resourceType}/${r.id}`)),
        el('td', {}, r.meta ? r.meta.lastUpdated : ''), el('td', {}, summary(r)));
    });
    const rel2 = next && fhirRel(ds, next.url);
    clear(box,
      el('p', { class: 'muted', id: 'search-total' }, b.total != null ? `${fmtNum(b.total)} matches` : `${rows.length} shown`),
      el('table', { class: 'list', id: 'search-table' }, el('thead', {}, el('tr', {}, ['Resource', 'Last updated', 'Summary'].map((t) => el('th', {}, t)))),
        el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: '3', class: 'muted' }, 'No matches.')))),
      rel2 ? el('button', { class: 'secondary', id: 'search-next', onclick: () => showBundle(box, ds, rel2) }, 'Next page') : null);
  }

  async function viewResource(ds, type, id) {
    const json = el('pre', { class: 'json', id: 'resource-json' }, '…');
    const history = el('tbody');
    const title = el('h1', {}, `${type}/${id}`);
    clear(main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/' }, 'Data stores'), ' / ', el('a', { href: `#/ds/${ds}/resources?${q({ type })}` }, ds), ' / ', `${type}/${id}`),
      title,
      el('div', { class: 'columns' },
        el('section', {}, el('h2', { id: 'shown-version' }, 'Current version'), json),
        el('section', {}, el('h2', {}, 'History'), el('table', { class: 'list', id: 'history' }, el('thead', {}, el('tr', {}, ['Version', 'Last updated', ''].map((t) => el('th', {}, t)))), history))));
    try {
      const r = await fhir(ds, `${type}/${encodeURIComponent(id)}`);
      json.textContent = JSON.stringify(r, null, 2);
    } catch (err) { clear(json, errorBox(err)); }
    try {
      const h = await fhir(ds, `${type}/${encodeURIComponent(id)}/_history`);
      clear(history, (h.entry || []).map((e) => {
        const r = e.resource;
        const v = r ? r.meta.versionId : (e.response && e.response.etag || '').replace(/\D/g, '');
        const deleted = !r;
        return el('tr', { dataset: { version: v } }, el('td', {}, v, deleted ? ' (deleted)' : ''),
          el('td', {}, r ? r.meta.lastUpdated : (e.response && e.response.lastModified) || ''),
          el('td', {}, deleted ? null : el('button', { class: 'small', onclick: async () => {
            try {
              const old = await fhir(ds, `${type}/${encodeURIComponent(id)}/_history/${v}`);
              json.textContent = JSON.stringify(old, null, 2);
              document.getElementById('shown-version').textContent = `Version ${v}`;
            } catch (err) { clear(json, errorBox(err)); }
          } }, 'Show')));
      }));
    } catch (err) { clear(history, el('tr', {}, el('td', { colspan: '3' }, errorBox(err)))); }
  }

  // ---- start ----

  async function start() {
    try {
      session = await capi('/console/api/session');
    } catch (err) {
      clear(main, errorBox(err));
      return;
    }
    document.getElementById('who').textContent = `${session.accessKeyId} · account ${session.accountId} · ${session.region}`;
    document.getElementById('nav-s3').hidden = !session.s3Browser;
    const signOut = document.getElementById('sign-out');
    signOut.addEventListener('click', async () => {
      try { await request('/console/logout', { method: 'POST' }); } finally { location.href = '/console/login'; }
    });
    signOut.hidden = false;
    window.addEventListener('hashchange', route);
    route();
  }
  start();
})();
