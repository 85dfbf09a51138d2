ROOT/app.json:
  file.serialize:
    - formatter: json
    - dataset:
        name: app
        port: 8080
        enabled: true
        tags: [a, b]
        nested: {z: 1, a: [1, {k: v}]}
ROOT/app.yaml:
  file.serialize:
    - serializer: yaml
    - dataset:
        name: app
        port: 8080
        enabled: true
        empty: ''
        tags: [a, b]
        nested: {z: 1, a: [1, {k: v}]}
ROOT/merged.json:
  file.serialize:
    - formatter: json
    - merge_if_exists: True
    - dataset:
        added: 1
        keep: {inner: new}
ROOT/pillar.yaml:
  file.serialize:
    - dataset_pillar: app:config
