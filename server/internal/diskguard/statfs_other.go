//go:build !unix

package diskguard

import "errors"

func freeBytes(string) (int64, error) {
	return 0, errors.New("free space is only known on unix systems")
}
