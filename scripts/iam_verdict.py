"""What the strict stand-in's IAM check saw (scripts/strict_aws/iam.py): the requests it checked per
function, and every call a function made outside its policy in template.yaml. Exits 1 on any denial,
or when a function made no request at all (its traffic was not signed as its own, so nothing was
checked). Usage: python scripts/iam_verdict.py ENDPOINT_URL"""

import collections
import json
import sys
import urllib.request


def main(endpoint):
    with urllib.request.urlopen(f"{endpoint}/strict-api/iam", timeout=10) as response:
        report = json.loads(response.read())
    if not report.get("enabled"):
        print("iam: off (STRICT_IAM=0): nothing checked")
        return 1
    checked = ", ".join(f"{name} {n:,}" for name, n in sorted(report["checked"].items()))
    print(f"iam: requests checked against each function's policy: {checked}")
    failed = False
    for name, n in sorted(report["checked"].items()):
        if n == 0:
            print(f"iam: {name} made no request under its own credentials: its policy was never checked")
            failed = True
    denied = collections.Counter((d["function"], d["action"], d["resource"], d["operation"]) for d in report["denials"])
    for (function, action, resource, operation), n in sorted(denied.items()):
        print(f"iam: DENIED {function}: {action} on {resource} ({operation}, {n}x)")
    # Least privilege, as far as the tests reach: a grant no request used is printed, not failed
    # (a path the tests do not take, such as an administrator's, may need it).
    for grant in report.get("unused", []):
        if not grant["sid"].startswith("SAM:"):
            print(f"iam: granted, never used here: {grant['function']} {grant['sid']}: {grant['action']}")
    if report["denied"]:
        print(f"iam: {report['denied']} calls outside their function's policy: template.yaml must grant them")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
