package memory_test

import (
	"testing"

	"github.com/erpgate/erpgate/store"
	"github.com/erpgate/erpgate/store/memory"
	"github.com/erpgate/erpgate/store/storetest"
)

func TestBackend(t *testing.T) {
	storetest.RunTests(t, func(*testing.T) store.Backend { return memory.New() })
}
