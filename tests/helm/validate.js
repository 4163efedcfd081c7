// validate.js - reads multi-document YAML (rendered Kubernetes objects) on
// stdin, validates every object against the Kubernetes schemas of the npm
// package kubernetes-models (the Prometheus Operator's and Argo CD's custom
// resources with their companion packages) and writes the objects as one
// JSON array to stdout. Exit status 1, with the reasons on stderr, when a
// document is not an object, has an unknown apiVersion/kind, or does not
// validate. Usage: node validate.js < rendered.yaml
// With --json: only parses (any YAML, e.g. a Grafana or Fluent Bit file)
// and writes the documents as a JSON array.
'use strict';
const path = require('path');
const modules = process.env.TRIAD_K8S_MODULES ||
    path.join(__dirname, '..', '..', 'build', 'tools', 'k8s', 'node_modules');
const req = (m) => require(path.join(modules, m));
const YAML = req('yaml');

// apiVersion -> module with one class per kind
const groups = {
  'v1': 'kubernetes-models/v1',
  'apps/v1': 'kubernetes-models/apps/v1',
  'policy/v1': 'kubernetes-models/policy/v1',
  'batch/v1': 'kubernetes-models/batch/v1',
  'networking.k8s.io/v1': 'kubernetes-models/networking.k8s.io/v1',
  'rbac.authorization.k8s.io/v1': 'kubernetes-models/rbac.authorization.k8s.io/v1',
  'monitoring.coreos.com/v1': '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
  'argoproj.io/v1alpha1': '@kubernetes-models/argo-cd/argoproj.io/v1alpha1',
};

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const errors = [];
  const out = [];
  const docs = YAML.parseAllDocuments(input);
  docs.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      errors.push(`document ${i}: YAML: ${doc.errors[0].message}`);
      return;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) return; // empty document
    if (process.argv[2] === '--json') {
      out.push(obj);
      return;
    }
    const where = `document ${i} (${obj.kind} ${obj.metadata && obj.metadata.name})`;
    if (typeof obj !== 'object' || Array.isArray(obj) || !obj.apiVersion || !obj.kind) {
      errors.push(`${where}: not a Kubernetes object`);
      return;
    }
    const mod = groups[obj.apiVersion];
    if (!mod) {
      errors.push(`${where}: unknown apiVersion ${obj.apiVersion}`);
      return;
    }
    const cls = req(mod)[obj.kind];
    if (!cls) {
      errors.push(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
      return;
    }
    try {
      new cls(obj).validate();
    } catch (e) {
      errors.push(`${where}: ${e.message}`);
      return;
    }
    out.push(obj);
  });
  if (errors.length > 0) {
    process.stderr.write(errors.join('\n') + '\n');
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(out));
});
