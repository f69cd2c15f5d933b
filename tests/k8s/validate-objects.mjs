// validate-objects.mjs: offline checks of rendered kustomize overlays.
//
//   node validate-objects.mjs --root REPO [--claude-web BIN] [--tmp DIR]
//        NAME=RENDERED.yaml[:External/Kind/name,...] ...
//
// For each overlay (NAME, the output of `kubectl kustomize`) it prints one
// result line per check, "ok<TAB>text" or "not ok<TAB>text", followed by
// "#<TAB>detail" lines; tests/k8s/validate.sh numbers them as TAP. The checks:
//   schema      every object against the Kubernetes OpenAPI schema
//               (kubernetes-models: types, enums, required fields, formats)
//   fields      no unknown field anywhere (a typo such as "procmount" would
//               be dropped silently by the API server): every object becomes
//               a typed TypeScript literal, excess properties are errors
//   references  ConfigMaps, Secrets, PVCs, Services, HPA targets named by
//               an object exist in the overlay (or are listed as external:
//               created by the operator), selectors select pods
//   probes      probe ports are ports of the pod
//   listeners   the nginx sidecar's FastCGI upstreams are the app's listeners,
//               its stream and body limits the app's
//   config      every variable the app container gets is one claude-web (or
//               the image's entry point) reads; the sidecar's own ones are
//               the nginx entry point's
//   drain       terminationGracePeriodSeconds covers preStop + the drain
//   sandbox     pods that run runners have what bubblewrap needs
//   resources   every container has a CPU request and a memory limit
//   pools       REDIS_MAX_CONNECTIONS >= API + 2 x STREAM workers + RUNNER_MAX
//   claude-web  `claude-web -t` accepts each app container's environment
//               (when a binary is given)
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";

const require = createRequire(import.meta.url);
const YAML = require("yaml");
const ts = require("typescript");

// ---- arguments -------------------------------------------------------------
let root = null, bin = null, tmpBase = os.tmpdir();
const overlays = [];
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	if (a === "--root") root = process.argv[++i];
	else if (a === "--claude-web") bin = process.argv[++i];
	else if (a === "--tmp") tmpBase = process.argv[++i];
	else {
		const m = /^([^=]+)=([^:]+)(?::(.*))?$/.exec(a);
		if (!m) { console.error(`bad argument: ${a}`); process.exit(2); }
		overlays.push({ name: m[1], file: m[2], external: new Set((m[3] || "").split(",").filter(Boolean)) });
	}
}
if (!root || overlays.length === 0) {
	console.error("usage: validate-objects.mjs --root REPO [--claude-web BIN] NAME=FILE[:Kind/name,...] ...");
	process.exit(2);
}

function result(ok, text, details = []) {
	console.log(`${ok ? "ok" : "not ok"}\t${text}`);
	for (const d of details.slice(0, 30)) console.log(`#\t${d}`);
	if (details.length > 30) console.log(`#\t... ${details.length - 30} more`);
}

// ---- helpers ------------------------------------------------------------------
const id = (o) => `${o.kind}/${o.metadata?.name ?? "?"}`;

function modelPath(o) {
	if (typeof o.apiVersion !== "string" || typeof o.kind !== "string") return null;
	const [g, v] = o.apiVersion.includes("/") ? o.apiVersion.split("/") : [null, o.apiVersion];
	return g ? `kubernetes-models/${g}/${v}/${o.kind}` : `kubernetes-models/${v}/${o.kind}`;
}

function podTemplate(o) {
	if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(o.kind))
		return o.spec?.template;
	return null;
}

function matches(selector, labels) {
	if (!selector) return false;
	for (const [k, v] of Object.entries(selector)) if (labels?.[k] !== v) return false;
	return true;
}

// The env-file format claude-web reads: KEY=VALUE, '#' comments, optional
// "export ", values optionally quoted.
function parseEnvFile(text) {
	const env = {};
	for (let line of text.split("\n")) {
		line = line.trim();
		if (line === "" || line.startsWith("#")) continue;
		if (line.startsWith("export ")) line = line.slice(7).trim();
		const eq = line.indexOf("=");
		if (eq <= 0) continue;
		let v = line.slice(eq + 1);
		if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.at(-1) === v[0]) v = v.slice(1, -1);
		env[line.slice(0, eq)] = v;
	}
	return env;
}

// The names claude-web reads: every "UPPER_CASE" string literal in its sources.
function appVariables() {
	const names = new Set();
	const dir = path.join(root, "fcgi-app");
	for (const f of fs.readdirSync(dir)) {
		if (!f.endsWith(".c")) continue;
		for (const m of fs.readFileSync(path.join(dir, f), "utf8").matchAll(/"([A-Z][A-Z0-9_]{2,})"/g))
			names.add(m[1]);
	}
	return names;
}

// The names a shell script reads: ${NAME...} and $NAME.
function scriptVariables(file) {
	const names = new Set();
	let text = "";
	try { text = fs.readFileSync(path.join(root, file), "utf8"); } catch { return names; }
	for (const m of text.matchAll(/\$\{?([A-Z][A-Z0-9_]{2,})/g)) names.add(m[1]);
	return names;
}

// The app container of a pod (the one named "app") and its sidecar.
const appContainer = (spec) => (spec?.containers || []).find((c) => c.name === "app");
const nginxContainer = (spec) => (spec?.containers || []).find((c) => c.name === "nginx");

// The environment a container gets: its envFrom ConfigMaps in order, then
// env (which wins). A downward-API value stands for a pod name.
function environment(c, byKind) {
	const env = {}, problems = [];
	for (const ef of c.envFrom || []) {
		const cm = ef.configMapRef && byKind("ConfigMap", ef.configMapRef.name);
		if (cm) Object.assign(env, cm.data || {});
	}
	for (const e of c.env || []) {
		if (e.value !== undefined) env[e.name] = e.value;
		else if (e.valueFrom?.fieldRef) env[e.name] = "claude-web-0";
		else problems.push(`${e.name}: neither a value nor a fieldRef`);
	}
	return { env, problems };
}

const num = (env, k, dflt) => (env[k] === undefined ? dflt : Number(env[k]));

// ---- load --------------------------------------------------------------------
for (const ov of overlays) {
	ov.objects = [];
	try {
		ov.objects = YAML.parseAllDocuments(fs.readFileSync(ov.file, "utf8"))
			.map((d) => { if (d.errors.length) throw d.errors[0]; return d.toJSON(); })
			.filter((o) => o && typeof o === "object");
	} catch (e) {
		ov.loadError = String(e.message || e);
	}
	ov.byKind = (kind, name) => ov.objects.find((o) => o.kind === kind && o.metadata?.name === name);
}

// ---- schema ------------------------------------------------------------------
for (const ov of overlays) {
	if (ov.loadError) { result(false, `${ov.name}: the rendered YAML parses`, [ov.loadError]); continue; }
	const errs = [];
	for (const o of ov.objects) {
		const mp = modelPath(o);
		let mod;
		try { mod = mp && require(mp); } catch { mod = null; }
		const Model = mod && mod[o.kind];
		if (!Model) { errs.push(`${id(o)}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`); continue; }
		try { new Model(o).validate(); } catch (e) { errs.push(`${id(o)}: ${String(e.message).split("\n").join("; ")}`); }
		if (!o.metadata?.name) errs.push(`${id(o)}: no metadata.name`);
	}
	result(errs.length === 0, `${ov.name}: schema: ${ov.objects.length} objects valid (kubernetes-models)`, errs);
}

// ---- fields (one TypeScript program for every overlay) -------------------------
{
	const dir = fs.mkdtempSync(path.join(tmpBase, "k8s-fields-"));
	const files = [];
	const lineIndex = {};	// file -> [{from, obj}]
	for (const ov of overlays) {
		if (ov.loadError) continue;
		let out = "", line = 1;
		const idx = [];
		ov.objects.forEach((o, i) => {
			const mp = modelPath(o);
			try { require.resolve(mp); } catch { return; }
			const head = `import type { I${o.kind} as T${i} } from "${mp}";\n`;
			const body = `export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};\n`;
			out += head;
			line += 1;
			idx.push({ from: line, obj: id(o) });
			out += body;
			line += body.split("\n").length - 1;
		});
		const f = path.join(dir, `${ov.name.replace(/[^A-Za-z0-9_-]/g, "_")}.ts`);
		fs.writeFileSync(f, out);
		files.push(f);
		lineIndex[f] = { ov, idx };
	}
	const program = ts.createProgram(files, {
		noEmit: true, strict: true, skipLibCheck: true, target: ts.ScriptTarget.ES2020,
		module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10 ?? ts.ModuleResolutionKind.NodeJs,
		typeRoots: [], types: [], baseUrl: path.dirname(new URL(import.meta.url).pathname),
		paths: { "kubernetes-models/*": [path.join(path.dirname(new URL(import.meta.url).pathname), "node_modules/kubernetes-models/*")] },
	});
	const diags = ts.getPreEmitDiagnostics(program);
	const byFile = {};
	for (const d of diags) {
		const f = d.file?.fileName;
		const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
		if (!f || !lineIndex[f]) { (byFile["*"] ||= []).push(msg); continue; }
		const { line } = d.file.getLineAndCharacterOfPosition(d.start);
		const where = lineIndex[f].idx.filter((x) => x.from <= line + 1).at(-1);
		(byFile[f] ||= []).push(`${where ? where.obj : "?"}: ${msg}`);
	}
	for (const f of files) {
		const { ov } = lineIndex[f];
		const errs = [...(byFile[f] || []), ...(byFile["*"] || [])];
		result(errs.length === 0, `${ov.name}: fields: no unknown or mistyped field (TypeScript types of the API)`, errs);
	}
	fs.rmSync(dir, { recursive: true, force: true });
}

// ---- the rest, per overlay ----------------------------------------------------
// The app container runs the image's entry point, then claude-web; the nginx
// container the nginx image's entry point (deploy/container/).
const known = appVariables();
const entryVars = scriptVariables("deploy/container/entrypoint.sh");
const nginxVars = scriptVariables("deploy/container/nginx-entrypoint.sh");
const knownVar = (k) => known.has(k) || entryVars.has(k) || (k.endsWith("_FILE") && known.has(k.slice(0, -5)));

for (const ov of overlays) {
	if (ov.loadError) continue;
	const { objects, byKind, external } = ov;
	const has = (kind, name) => byKind(kind, name) || external.has(`${kind}/${name}`);
	const pods = objects.filter(podTemplate).map((o) => ({ owner: o, tpl: podTemplate(o) }));

	// references
	{
		const errs = [];
		for (const { owner, tpl } of pods) {
			const spec = tpl.spec || {};
			const ns = owner.metadata.namespace;
			for (const v of spec.volumes || []) {
				if (v.configMap && !has("ConfigMap", v.configMap.name) && !v.configMap.optional)
					errs.push(`${id(owner)}: volume ${v.name}: no ConfigMap ${v.configMap.name}`);
				if (v.secret && !has("Secret", v.secret.secretName) && !v.secret.optional)
					errs.push(`${id(owner)}: volume ${v.name}: no Secret ${v.secret.secretName}`);
				if (v.persistentVolumeClaim && !has("PersistentVolumeClaim", v.persistentVolumeClaim.claimName))
					errs.push(`${id(owner)}: volume ${v.name}: no PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}`);
			}
			for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
				for (const ef of c.envFrom || []) {
					if (ef.configMapRef && !has("ConfigMap", ef.configMapRef.name) && !ef.configMapRef.optional)
						errs.push(`${id(owner)}/${c.name}: envFrom: no ConfigMap ${ef.configMapRef.name}`);
					if (ef.secretRef && !has("Secret", ef.secretRef.name) && !ef.secretRef.optional)
						errs.push(`${id(owner)}/${c.name}: envFrom: no Secret ${ef.secretRef.name}`);
				}
				const names = new Set((spec.volumes || []).map((v) => v.name));
				for (const m of c.volumeMounts || [])
					if (!names.has(m.name) && !(owner.spec.volumeClaimTemplates || []).some((t) => t.metadata.name === m.name))
						errs.push(`${id(owner)}/${c.name}: mounts unknown volume ${m.name}`);
			}
			if (!matches(owner.spec.selector?.matchLabels, tpl.metadata?.labels))
				errs.push(`${id(owner)}: its selector does not select its own pods`);
			if (owner.kind === "StatefulSet" && !byKind("Service", owner.spec.serviceName))
				errs.push(`${id(owner)}: no Service ${owner.spec.serviceName} (serviceName)`);
			if (ns && objects.some((o) => o.kind === "Namespace") && !byKind("Namespace", ns))
				errs.push(`${id(owner)}: namespace ${ns} is not the overlay's Namespace`);
		}
		const selects = (sel) => pods.filter((p) => matches(sel, p.tpl.metadata?.labels));
		for (const o of objects) {
			if (o.kind === "Service" && o.spec?.selector && selects(o.spec.selector).length === 0)
				errs.push(`${id(o)}: selects no pods`);
			if (o.kind === "Service") {
				for (const p of o.spec.ports || []) {
					if (typeof p.targetPort !== "string") continue;
					for (const { owner, tpl } of selects(o.spec.selector))
						if (!(tpl.spec.containers || []).some((c) => (c.ports || []).some((cp) => cp.name === p.targetPort)))
							errs.push(`${id(o)}: port ${p.name}: ${id(owner)} has no port named ${p.targetPort}`);
				}
			}
			if ((o.kind === "PodDisruptionBudget" || o.kind === "NetworkPolicy") &&
			    selects(o.kind === "NetworkPolicy" ? o.spec.podSelector?.matchLabels : o.spec.selector?.matchLabels).length === 0)
				errs.push(`${id(o)}: selects no pods`);
			if (o.kind === "HorizontalPodAutoscaler") {
				const t = o.spec.scaleTargetRef;
				if (!byKind(t.kind, t.name)) errs.push(`${id(o)}: no ${t.kind}/${t.name} to scale`);
				const d = byKind(t.kind, t.name);
				if (d && o.spec.metrics?.some((m) => m.type === "Resource")) {
					for (const c of d.spec.template.spec.containers)
						if (!c.resources?.requests?.cpu) errs.push(`${id(o)}: ${id(d)}/${c.name} has no CPU request (CPU utilization needs it)`);
				}
			}
			if (o.kind === "Ingress") {
				for (const r of o.spec.rules || [])
					for (const p of r.http?.paths || []) {
						const s = p.backend?.service;
						const svc = s && byKind("Service", s.name);
						if (!svc) errs.push(`${id(o)}: ${p.path}: no Service ${s?.name}`);
						else if (s.port?.name && !(svc.spec.ports || []).some((sp) => sp.name === s.port.name))
							errs.push(`${id(o)}: ${p.path}: Service ${s.name} has no port ${s.port.name}`);
					}
				for (const t of o.spec.tls || [])
					if (!has("Secret", t.secretName)) errs.push(`${id(o)}: no TLS Secret ${t.secretName}`);
			}
		}
		result(errs.length === 0, `${ov.name}: references: every ConfigMap, Secret, volume, Service and target named exists`, errs);
	}

	// probes
	{
		const errs = [];
		for (const { owner, tpl } of pods) {
			const ports = new Set();
			for (const c of tpl.spec.containers) for (const p of c.ports || []) { ports.add(p.name); ports.add(p.containerPort); }
			for (const c of tpl.spec.containers)
				for (const k of ["startupProbe", "livenessProbe", "readinessProbe"]) {
					const p = c[k]?.httpGet || c[k]?.tcpSocket;
					if (p && !ports.has(p.port)) errs.push(`${id(owner)}/${c.name}: ${k} port ${p.port} is no port of the pod`);
				}
			const app = appContainer(tpl.spec);
			if (app) {
				const paths = ["livenessProbe", "readinessProbe"].map((k) => app[k]?.httpGet?.path);
				if (paths[0] !== "/api/live") errs.push(`${id(owner)}/${app.name}: liveness is ${paths[0]}, not /api/live`);
				if (paths[1] !== "/api/ready") errs.push(`${id(owner)}/${app.name}: readiness is ${paths[1]}, not /api/ready`);
			}
		}
		result(errs.length === 0, `${ov.name}: probes: /api/live and /api/ready on a port of the pod`, errs);
	}

	// listeners, config, drain, sandbox, resources, pools (pods with an app container)
	const checks = { listeners: [], config: [], drain: [], sandbox: [], resources: [], pools: [], envs: [] };
	for (const { owner, tpl } of pods) {
		const spec = tpl.spec;
		for (const c of spec.containers)
			if (!c.resources?.requests?.cpu || !c.resources?.limits?.memory)
				checks.resources.push(`${id(owner)}/${c.name}: needs resources.requests.cpu and resources.limits.memory`);
		const app = appContainer(spec);
		if (!app) continue;
		const { env, problems } = environment(app, byKind);
		checks.config.push(...problems.map((p) => `${id(owner)}/${app.name}: ${p}`));
		checks.envs.push({ owner, app, env });
		for (const k of Object.keys(env))
			if (!knownVar(k)) checks.config.push(`${id(owner)}/${app.name}: ${k} is not a variable claude-web or its entry point reads`);

		const nginx = nginxContainer(spec);
		if (nginx) {
			const { env: nenv, problems: np } = environment(nginx, byKind);
			checks.config.push(...np.map((p) => `${id(owner)}/nginx: ${p}`));
			for (const e of nginx.env || [])
				if (!nginxVars.has(e.name)) checks.config.push(`${id(owner)}/nginx: ${e.name} is not a variable the nginx entry point reads`);
			if ((nenv.STREAM_WORKERS ?? "8") !== (env.STREAM_WORKERS ?? "8"))
				checks.listeners.push(`${id(owner)}: nginx admits STREAM_WORKERS=${nenv.STREAM_WORKERS} streams, the app has ${env.STREAM_WORKERS}`);
			if ((nenv.MAX_FILE_SIZE ?? "") !== (env.MAX_FILE_SIZE ?? ""))
				checks.listeners.push(`${id(owner)}: nginx's MAX_FILE_SIZE ${nenv.MAX_FILE_SIZE} is not the app's ${env.MAX_FILE_SIZE}`);
			for (const [listen, servers] of [["API_LISTEN", "FASTCGI_API_SERVERS"], ["STREAM_LISTEN", "FASTCGI_STREAM_SERVERS"]])
				if ((env[listen] || "") !== (nenv[servers] || ""))
					checks.listeners.push(`${id(owner)}: app ${listen}=${env[listen] ?? "(unset)"} but nginx ${servers}=${nenv[servers] ?? "(unset)"}`);
		}

		const runnerMax = num(env, "RUNNER_MAX", 16);
		const drain = Math.max(runnerMax > 0 ? num(env, "RUNNER_DRAIN_TIMEOUT", 1800) : 0, num(env, "PROCESS_CONTROL_TIMEOUT", 10)) +
		    num(env, "STOP_DRAIN_DELAY", 0);
		const sleep = (c) => {
			const cmd = c.lifecycle?.preStop?.exec?.command || [];
			return cmd[0] === "sleep" ? Number(cmd[1]) : (c.lifecycle?.preStop?.sleep?.seconds || 0);
		};
		const grace = spec.terminationGracePeriodSeconds ?? 30;
		const need = sleep(app) + drain + 10;
		if (grace < need)
			checks.drain.push(`${id(owner)}: terminationGracePeriodSeconds ${grace} < preStop ${sleep(app)} + drain ${drain} + 10`);
		if (grace > need + 60)
			checks.drain.push(`${id(owner)}: terminationGracePeriodSeconds ${grace} is far above what the drain needs (${need}): a stuck pod blocks rollouts`);
		if (nginx && sleep(nginx) < sleep(app))
			checks.drain.push(`${id(owner)}: nginx's preStop (${sleep(nginx)} s) ends before the app's (${sleep(app)} s)`);

		if (runnerMax > 0 || num(env, "RUNNER_WORKERS", 2) > 0) {
			const sc = app.securityContext || {};
			const seccomp = sc.seccompProfile?.type ?? spec.securityContext?.seccompProfile?.type;
			if (sc.privileged !== true) {
				if (spec.hostUsers !== false) checks.sandbox.push(`${id(owner)}: runs runners but hostUsers is not false`);
				if (sc.procMount !== "Unmasked") checks.sandbox.push(`${id(owner)}/${app.name}: runs runners but procMount is not Unmasked`);
				if (seccomp !== "Unconfined" && seccomp !== "Localhost")
					checks.sandbox.push(`${id(owner)}/${app.name}: runs runners but seccomp is ${seccomp} (no unshare/mount)`);
			}
		} else {
			const sc = app.securityContext || {};
			if (spec.hostUsers === false || sc.procMount === "Unmasked" || sc.seccompProfile?.type === "Unconfined")
				checks.sandbox.push(`${id(owner)}: runs no runner but keeps the sandbox's exceptions`);
		}

		const conns = num(env, "REDIS_MAX_CONNECTIONS", 50);
		const want = num(env, "API_WORKERS", 4) + 2 * num(env, "STREAM_WORKERS", 2) + runnerMax;
		if (conns < want) checks.pools.push(`${id(owner)}: REDIS_MAX_CONNECTIONS ${conns} < ${want}`);
	}
	result(checks.listeners.length === 0, `${ov.name}: listeners: nginx's FastCGI upstreams are the app's API_LISTEN/STREAM_LISTEN`, checks.listeners);
	result(checks.config.length === 0, `${ov.name}: config: every variable of the app containers is one claude-web reads`, checks.config);
	result(checks.drain.length === 0, `${ov.name}: drain: terminationGracePeriodSeconds covers preStop + the graceful stop`, checks.drain);
	result(checks.sandbox.length === 0, `${ov.name}: sandbox: pods with runners can run bubblewrap, the others keep the defaults`, checks.sandbox);
	result(checks.resources.length === 0, `${ov.name}: resources: CPU requests and memory limits everywhere`, checks.resources);
	result(checks.pools.length === 0, `${ov.name}: pools: REDIS_MAX_CONNECTIONS covers every worker`, checks.pools);

	// claude-web -t on each app container's environment, as the image's
	// entry point runs it before it starts claude-web.
	if (bin) {
		for (const { owner, app, env } of checks.envs) {
			const dir = fs.mkdtempSync(path.join(tmpBase, "k8s-cw-"));
			const secret = "k8s-validate-" + "x".repeat(40);
			const envv = {};
			// Paths of the pod are replaced with ones that exist here.
			for (let [k, v] of Object.entries(env)) {
				if (entryVars.has(k) && !known.has(k)) continue;	// the entry point unsets them
				if (k.endsWith("_FILE")) {
					v = path.join(dir, k.toLowerCase());
					fs.writeFileSync(v, secret, { mode: 0o600 });
				} else if (k === "WORKSPACE_PATH") v = path.join(dir, "workspace");
				envv[k] = v;
			}
			const r = spawnSync(bin, ["-t"], {
				env: { PATH: process.env.PATH, ALLOW_ROOT: "true", API_SOCKET: path.join(dir, "api.sock"),
				    STREAM_SOCKET: path.join(dir, "stream.sock"), ...envv },
				encoding: "utf8", timeout: 20000,
			});
			const out = `${r.stdout || ""}${r.stderr || ""}`.trim().split("\n").filter(Boolean);
			result(r.status === 0, `${ov.name}: claude-web -t accepts the environment of ${id(owner)}/${app.name}`,
			    r.status === 0 ? [] : [`exit ${r.status ?? r.signal}`, ...out]);
			fs.rmSync(dir, { recursive: true, force: true });
		}
	}
}
