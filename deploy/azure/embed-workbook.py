#!/usr/bin/env python3
"""Copies edgelog-workbook.json into edgelog.json (the workbook resource's serializedData), so the one ARM
template deploys table, rule, role assignment and workbook. Run after editing the workbook; a test checks both agree.

    python3 deploy/azure/embed-workbook.py
"""
import json, os
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "edgelog-workbook.json"), encoding="utf-8") as f:
    workbook = f.read()
json.loads(workbook)
path = os.path.join(here, "edgelog.json")
with open(path, encoding="utf-8") as f:
    template = json.load(f)
for resource in template["resources"]:
    if resource["type"] == "Microsoft.Insights/workbooks":
        resource["properties"]["serializedData"] = workbook
with open(path, "w", encoding="utf-8") as f:
    f.write(json.dumps(template, indent=2, ensure_ascii=False) + "\n")
print(f"updated {path}")
