package config

import (
	"fmt"
	"math"
	"reflect"
)

// nonFinite reports every float key of c that is NaN or infinite, by key path. YAML reads .nan
// and .inf as floats, and every range check (x <= 0, x > 1, ...) is false for NaN, so without
// this a NaN ratio reached the rank rule and an infinite timeout a JSON encoder.
func nonFinite(c Config) []string {
	var p []string
	v, t := reflect.ValueOf(c), reflect.TypeOf(c)
	for i := 0; i < t.NumField(); i++ {
		section := t.Field(i).Tag.Get("mapstructure")
		sv, st := v.Field(i), t.Field(i).Type
		if st.Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < st.NumField(); j++ {
			f := sv.Field(j)
			if f.Kind() != reflect.Float64 && f.Kind() != reflect.Float32 {
				continue
			}
			if x := f.Float(); math.IsNaN(x) || math.IsInf(x, 0) {
				p = append(p, fmt.Sprintf("%s.%s: %v is not a finite number", section, st.Field(j).Tag.Get("mapstructure"), x))
			}
		}
	}
	return p
}
