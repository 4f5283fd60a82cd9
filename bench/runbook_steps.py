"""The runbook's ClearML snippets, one step per run (host names changed), for the benchmark to time.

    runbook_steps.py create PROJECT NAME SOURCE_URL      add_external_files + upload + finalize
    runbook_steps.py subset PROJECT NAME COUNT           the recipe: download the parent, add COUNT files
    runbook_steps.py get DATASET_ID                      get_local_copy
Prints one `RESULT <json>` line.
"""

import json
import os
import sys

from clearml import Dataset

step = sys.argv[1]
if step == "create":
    project, name, source = sys.argv[2:5]
    dataset = Dataset.create(dataset_name=name, dataset_project=project)
    dataset.add_external_files(source_url=source, wildcard="*.png", dataset_path="/imagens")
    dataset.upload()
    dataset.finalize()
    result = {"id": dataset.id, "files": len(dataset.list_files())}
elif step == "subset":
    project, name, count = sys.argv[2], sys.argv[3], int(sys.argv[4])
    parent = Dataset.get(dataset_project=project, dataset_name=name)
    local = parent.get_local_copy()
    pngs = [f for f in parent.list_files() if f.endswith(".png")]
    child = Dataset.create(dataset_name=name + "_subconjunto", dataset_project=project, parent_datasets=[parent.id])
    for relative in pngs[:count]:
        child.add_files(os.path.join(local, relative), dataset_path=relative)
    child.upload()
    child.finalize()
    result = {"id": child.id, "files": len(child.list_files())}
elif step == "get":
    folder = Dataset.get(dataset_id=sys.argv[2]).get_local_copy()
    result = {"folder": folder, "files": sum(len(files) for _, _, files in os.walk(folder))}
else:
    raise SystemExit(f"unknown step {step}")
print("RESULT " + json.dumps(result))
