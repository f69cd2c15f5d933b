// kube-play-prepare.mjs RENDERED OUTDIR PREFIX [REDIS_IP [KEY=VALUE...]]
//
// Turns the dev overlay's render (`kubectl kustomize deploy/k8s/overlays/dev`)
// into what Debian 12's podman 4.3 `kube play` can run, changing only what
// podman cannot take as it is (tests/k8s/kube-play.sh):
//   - Secrets become ConfigMaps with the decoded values, and secret volumes
//     configMap volumes (same items and mode): podman 4.3 panics on secret
//     volumes (VolumeFromSecret);
//   - every ConfigMap, PersistentVolumeClaim, volume and Deployment name gets
//     PREFIX: podman makes named volumes of them, and kube-play.sh removes
//     exactly those afterwards;
//   - REDIS_IP given: the app pod gets a hostAlias claude-web-redis → REDIS_IP
//     (podman has no Services and no cluster DNS);
//   - KEY=VALUE: set in claude-web-config (the test's ANTHROPIC_BASE_URL);
//   - fsGroup: podman 4.3 ignores it (an emptyDir is a volume owned as the
//     image's directory there, often root), and its init containers do not
//     work with runc here; so each emptyDir becomes a world-writable sticky
//     directory under OUTDIR/volumes (hostPath);
//   - procMount: Unmasked: podman 4.3 ignores it and has no other way to an
//     unmasked /proc than privileged (which also drops its seccomp profile);
//     seccompProfile Unconfined becomes podman's seccomp annotation.
// Writes OUTDIR/redis.yaml (ConfigMaps + the Redis Deployment) and
// OUTDIR/app.yaml (ConfigMaps + PVC + the claude-web Deployment).
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const YAML = require("yaml");
const [rendered, outdir, prefix, redisIp, ...settings] = process.argv.slice(2);
if (!rendered || !outdir || !prefix) {
	console.error("usage: kube-play-prepare.mjs RENDERED OUTDIR PREFIX [REDIS_IP]");
	process.exit(2);
}
const objects = YAML.parseAllDocuments(fs.readFileSync(rendered, "utf8")).map((d) => d.toJSON()).filter(Boolean);
const p = (name) => `${prefix}${name}`;

const configMaps = [];
for (const o of objects) {
	if (o.kind === "ConfigMap") {
		const data = { ...o.data };
		if (o.metadata.name.startsWith("claude-web-config"))
			for (const kv of settings) data[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
		configMaps.push({ ...o, metadata: { name: p(o.metadata.name) }, data });
	}
	if (o.kind === "Secret") {
		const data = {};
		for (const [k, v] of Object.entries(o.data || {})) data[k] = Buffer.from(v, "base64").toString("utf8");
		Object.assign(data, o.stringData || {});
		configMaps.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: p(o.metadata.name) }, data });
	}
}
const pvcs = objects.filter((o) => o.kind === "PersistentVolumeClaim")
	.map((o) => ({ ...o, metadata: { name: p(o.metadata.name) } }));

function adapt(d) {
	d = JSON.parse(JSON.stringify(d));
	d.metadata = { name: p(d.metadata.name), labels: d.metadata.labels };
	const spec = d.spec.template.spec;
	for (const v of spec.volumes || []) {
		v.name = p(v.name);
		if (v.secret) {
			v.configMap = { name: v.secret.secretName, items: v.secret.items, defaultMode: v.secret.defaultMode };
			delete v.secret;
		}
		if (v.configMap) v.configMap.name = p(v.configMap.name);
		if (v.persistentVolumeClaim) v.persistentVolumeClaim.claimName = p(v.persistentVolumeClaim.claimName);
	}
	for (const c of [...(spec.initContainers || []), ...spec.containers]) {
		for (const m of c.volumeMounts || []) m.name = p(m.name);
		for (const ef of c.envFrom || []) if (ef.configMapRef) ef.configMapRef.name = p(ef.configMapRef.name);
	}
	const tplMeta = (d.spec.template.metadata ||= {});
	for (const c of spec.containers) {
		const sc = c.securityContext || {};
		if (sc.procMount === "Unmasked") {
			delete sc.procMount;
			delete sc.allowPrivilegeEscalation;
			sc.privileged = true;
		}
		if (sc.seccompProfile?.type === "Unconfined")
			(tplMeta.annotations ||= {})[`container.seccomp.security.alpha.kubernetes.io/${c.name}`] = "unconfined";
		delete sc.seccompProfile;
		delete sc.appArmorProfile;
	}
	// fsGroup: every emptyDir becomes a directory of OUTDIR that anyone may
	// write (sticky, like /tmp).
	if (spec.securityContext?.fsGroup !== undefined) {
		for (const v of spec.volumes || []) {
			if (!v.emptyDir) continue;
			const dir = path.join(outdir, "volumes", v.name);
			fs.mkdirSync(dir, { recursive: true });
			fs.chmodSync(dir, 0o1777);
			delete v.emptyDir;
			v.hostPath = { path: dir, type: "Directory" };
		}
	}
	return d;
}

const deployment = (name) => objects.find((o) => o.kind === "Deployment" && o.metadata.name === name);
const redis = deployment("claude-web-redis");
const app = deployment("claude-web");
if (!redis || !app) {
	console.error(`${rendered}: no Deployment claude-web-redis and claude-web`);
	process.exit(1);
}
const appAdapted = adapt(app);
if (redisIp) appAdapted.spec.template.spec.hostAliases = [{ ip: redisIp, hostnames: ["claude-web-redis"] }];

const dump = (list) => list.map((o) => YAML.stringify(o)).join("---\n");
fs.writeFileSync(path.join(outdir, "redis.yaml"), dump([...configMaps, adapt(redis)]));
fs.writeFileSync(path.join(outdir, "app.yaml"), dump([...configMaps, ...pvcs, appAdapted]));
