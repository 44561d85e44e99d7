package gateway

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// frame encodes one WebSocket frame (RFC 6455, section 5.2); a non-nil key
// masks the payload, as a client must.
func frame(fin bool, rsv1 bool, op byte, key []byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	out := []byte{b0}
	var mask byte
	if key != nil {
		mask = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mask|byte(n))
	case n <= 0xffff:
		out = append(out, mask|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mask|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if key == nil {
		return append(out, payload...)
	}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

func closePayload(code int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(code)) }

// The frame reader finds each text message and close code whatever the
// framing (masking, 7-, 16- and 64-bit lengths, fragments with control
// frames between them, binary and compressed messages) and wherever the
// stream is cut into reads.
func TestFrameReader(t *testing.T) {
	key := []byte{0x12, 0x34, 0x56, 0x78}
	long := strings.Repeat("a", 70000)
	huge := strings.Repeat("b", maxFrameMessage+10)
	tests := []struct {
		name      string
		stream    [][]byte
		wantText  []string
		wantTrunc []bool
		wantClose []int
	}{
		{"short unmasked", [][]byte{frame(true, false, opText, nil, []byte(`{"type":"a"}`))}, []string{`{"type":"a"}`}, []bool{false}, nil},
		{"masked", [][]byte{frame(true, false, opText, key, []byte("hello"))}, []string{"hello"}, []bool{false}, nil},
		{"16-bit length", [][]byte{frame(true, false, opText, key, []byte(long[:300]))}, []string{long[:300]}, []bool{false}, nil},
		{"64-bit length", [][]byte{frame(true, false, opText, nil, []byte(long))}, []string{long}, []bool{false}, nil},
		{"fragments with a ping between", [][]byte{
			frame(false, false, opText, key, []byte("hel")),
			frame(true, false, 0x9, key, []byte("ping")),
			frame(true, false, opContinuation, key, []byte("lo")),
		}, []string{"hello"}, []bool{false}, nil},
		{"binary is skipped", [][]byte{
			frame(false, false, 0x2, nil, []byte{1, 2, 3}),
			frame(true, false, opContinuation, nil, []byte{4}),
			frame(true, false, opText, nil, []byte("after")),
		}, []string{"after"}, []bool{false}, nil},
		{"compressed is skipped", [][]byte{frame(true, true, opText, nil, []byte{0xf2, 0x48}), frame(true, false, opText, nil, []byte("x"))}, []string{"x"}, []bool{false}, nil},
		{"empty text", [][]byte{frame(true, false, opText, key, nil)}, []string{""}, []bool{false}, nil},
		{"too long is truncated", [][]byte{frame(true, false, opText, nil, []byte(huge))}, []string{huge[:maxFrameMessage]}, []bool{true}, nil},
		{"close with a code", [][]byte{frame(true, false, opClose, key, append(closePayload(1011), "bye"...))}, nil, nil, []int{1011}},
		{"close without a code", [][]byte{frame(true, false, opClose, nil, nil)}, nil, nil, []int{closeNoStatus}},
	}
	for _, tt := range tests {
		stream := slices.Concat(tt.stream...)
		cuts := []int{1, 2, 3, 7, 13, 4096, len(stream)}
		for _, cut := range cuts {
			t.Run(fmt.Sprintf("%s/reads of %d", tt.name, cut), func(t *testing.T) {
				var texts []string
				var truncs []bool
				var closes []int
				f := frameReader{
					onText:  func(m []byte, tr bool) { texts = append(texts, string(m)); truncs = append(truncs, tr) },
					onClose: func(c int) { closes = append(closes, c) },
				}
				for p := stream; len(p) > 0; {
					n := min(cut, len(p))
					f.feed(p[:n])
					p = p[n:]
				}
				if !slices.Equal(texts, tt.wantText) || !slices.Equal(truncs, tt.wantTrunc) || !slices.Equal(closes, tt.wantClose) {
					t.Fatalf("texts %.40q truncated %v closes %v; want %.40q %v %v", texts, truncs, closes, tt.wantText, tt.wantTrunc, tt.wantClose)
				}
			})
		}
	}
}
