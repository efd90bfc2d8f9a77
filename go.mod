module github.com/otafleet/ota

go 1.26.0
