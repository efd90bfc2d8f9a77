module github.com/otafleet/ota

go 1.26.0

require github.com/bmatcuk/doublestar/v4 v4.10.4

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
