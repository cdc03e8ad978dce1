"""Prism quickstart: run `scripts/run.sh` in another terminal, then `python examples/quickstart.py`."""

import chromadb

client = chromadb.HttpClient(host="localhost", port=8000)
docs = client.get_or_create_collection("docs", metadata={"hnsw:space": "cosine"})
docs.upsert(
    ids=["a", "b", "c"],
    embeddings=[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]],
    documents=["apples", "bananas", "apples and bananas"],
    metadatas=[{"kind": "fruit", "n": 1}, {"kind": "fruit", "n": 2}, {"kind": "mix", "n": 3}],
)
print(docs.query(query_embeddings=[[1.0, 0.1]], n_results=2, where={"n": {"$gte": 2}}))
print(docs.get(where_document={"$contains": "apples"}))
