"""The runbook's three ClearML snippets, as DOMAIN-NOTES.md describes them, with only the host names
changed (S3_HOST=host:port from the environment). Run as a script: prints one `RESULT <json>` line.

1. create: Dataset.create + add_external_files(s3://HOST:9000/clearml/, *.png, /imagens) + upload + finalize
2. get + list PNGs: Dataset.get, get_local_copy, the .png files of list_files()
3. subset: a child of the parent, add_files(local file, dataset_path=relative path) for 2 PNGs, upload, finalize
"""

import json
import os
import sys

from clearml import Dataset

host = os.environ["S3_HOST"]
project, name = sys.argv[1], sys.argv[2]

# 1. create
dataset = Dataset.create(dataset_name=name, dataset_project=project)
dataset.add_external_files(source_url=f"s3://{host}/clearml/", wildcard="*.png", dataset_path="/imagens")
dataset.upload()
dataset.finalize()

# 2. get + list PNGs
parent = Dataset.get(dataset_project=project, dataset_name=name)
local = parent.get_local_copy()
pngs = [f for f in parent.list_files() if f.endswith(".png")]

# 3. subset (the recipe: downloads the parent, then re-uploads the chosen files)
child = Dataset.create(dataset_name=name + "_subconjunto", dataset_project=project, parent_datasets=[parent.id])
for relative in pngs[:2]:
    child.add_files(os.path.join(local, relative), dataset_path=relative)
child.upload()
child.finalize()

print("RESULT " + json.dumps({"parent_files": len(pngs), "subset_id": child.id,
                              "subset_files": sorted(Dataset.get(dataset_id=child.id).list_files())}))
