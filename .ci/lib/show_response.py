"""Prints one runtime-scheduler response (JSON on stdin) readably, for `make demo`."""
import json
import sys

r = json.load(sys.stdin)
print(f"outcome: {r['outcome']}   phase: {r['phase']}   took: {r['duration_ms']} ms")
decision = r.get("decision")
if decision:
    print(f"decision: {decision['reason']}")
for s in r.get("steps", []):
    after = ",".join(map(str, s.get("after", []))) or "-"
    took = f"{s['duration_ms']:>5} ms" if s["status"] != "planned" else " " * 8
    print(f"  {s['id']:>2}. {s['status']:<9} {took}  {s['action']:<28} {s['target']:<44} after {after}")
res = r.get("resources", {})
for name, nat in res.get("nat_gateways", {}).items():
    print(f"  nat/{name}: {nat.get('nat_gateway_id') or '-'}  eip {nat.get('public_ip') or '-'} ({nat.get('allocation_id') or '-'})")
lb = res.get("load_balancer")
print(f"  load balancer: {lb['dns_name'] if lb else '-'}   listeners: {sorted(res.get('listeners', {}).keys()) or '-'}")
nt = r.get("next_transition")
if nt:
    print(f"  next transition: {nt['desired']} at {nt['at_local']}")
for t in r.get("recent_transitions", [])[-3:]:
    print(f"  history: {t['started_at']}  {t['trigger']} {t['action']} -> {t['outcome']}  ({t['reason']})")
for w in r.get("warnings", []):
    print(f"  warning: {w}")
if r.get("error"):
    print(f"  error: {r['error']}")
