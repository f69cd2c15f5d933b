// kustomize-check.mjs: two checks tests/k8s/validate.sh runs on the
// kustomize side (output: "ok<TAB>text" / "not ok<TAB>text" / "#<TAB>detail").
//
//   node kustomize-check.mjs compat KUSTOMIZATION.yaml ...
//     Only the syntax kubectl 1.20's embedded kustomize (v2.0.3, Debian 12's
//     kubernetes-client) understands: no patches:, components:, replicas:,
//     labels:, envs: ...; resources: lists files (directories go in bases:).
//   node kustomize-check.mjs same NAME A.yaml B.yaml [NAME A B]...
//     Two renders of one overlay (two kubectl versions) hold the same
//     objects, field for field, once the generated name suffixes are removed.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const YAML = require("yaml");

function result(ok, text, details = []) {
	console.log(`${ok ? "ok" : "not ok"}\t${text}`);
	for (const d of details.slice(0, 30)) console.log(`#\t${d}`);
}

const [mode, ...args] = process.argv.slice(2);

if (mode === "compat") {
	const allowed = new Set(["apiVersion", "kind", "namespace", "namePrefix", "nameSuffix", "commonLabels",
		"commonAnnotations", "resources", "bases", "patchesStrategicMerge", "patchesJson6902",
		"configMapGenerator", "secretGenerator", "generatorOptions", "images", "vars", "crds"]);
	const genKeys = new Set(["name", "behavior", "files", "literals", "env", "type"]);
	for (const f of args) {
		const errs = [];
		let k;
		try { k = YAML.parse(fs.readFileSync(f, "utf8")) || {}; } catch (e) { errs.push(String(e.message)); k = {}; }
		for (const key of Object.keys(k))
			if (!allowed.has(key)) errs.push(`${key}: not known to kustomize v2.0.3 (kubectl 1.20)`);
		for (const r of k.resources || [])
			if (fs.statSync(path.join(path.dirname(f), r), { throwIfNoEntry: false })?.isDirectory())
				errs.push(`resources: ${r} is a directory: kustomize v2.0.3 wants it under bases:`);
		for (const g of [...(k.configMapGenerator || []), ...(k.secretGenerator || [])])
			for (const key of Object.keys(g))
				if (!genKeys.has(key)) errs.push(`generator ${g.name}: ${key} is not known to kustomize v2.0.3`);
		for (const p of k.patchesJson6902 || [])
			if (!p.path) errs.push("patchesJson6902: inline patches need kustomize v3; use path:");
		result(errs.length === 0, `kustomize v2.0.3 syntax: ${f}`, errs);
	}
} else if (mode === "same") {
	for (let i = 0; i + 2 < args.length; i += 3) same(args[i], args[i + 1], args[i + 2]);
} else {
	console.error("usage: kustomize-check.mjs compat FILE... | same NAME A B [NAME A B]...");
	process.exit(2);
}

function same(name, a, b) {
	const load = (f) => {
		const objs = YAML.parseAllDocuments(fs.readFileSync(f, "utf8")).map((d) => d.toJSON()).filter(Boolean);
		// Generated names end in a content hash that differs between versions.
		const text = JSON.stringify(objs).replace(/(claude-web[a-z0-9-]*?)-[a-z0-9]{10}\b/g, "$1-HASH");
		const map = new Map();
		for (const o of JSON.parse(text)) {
			// kubectl 1.20 leaves empty labels/annotations on merged generators.
			for (const k of ["labels", "annotations"])
				if (o.metadata?.[k] && Object.keys(o.metadata[k]).length === 0) delete o.metadata[k];
			map.set(`${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`, o);
		}
		return map;
	};
	const sortKeys = (v) => Array.isArray(v) ? v.map(sortKeys)
		: v && typeof v === "object" ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])])) : v;
	const A = load(a), B = load(b);
	const errs = [];
	for (const k of new Set([...A.keys(), ...B.keys()])) {
		if (!A.has(k)) errs.push(`${k}: only in ${b}`);
		else if (!B.has(k)) errs.push(`${k}: only in ${a}`);
		else if (JSON.stringify(sortKeys(A.get(k))) !== JSON.stringify(sortKeys(B.get(k))))
			errs.push(`${k}: differs`);
	}
	result(errs.length === 0, `${name}: kubectl 1.20 renders the same objects as this kubectl`, errs);
}
