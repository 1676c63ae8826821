import sys, numpy as np
sys.path.insert(0,__import__('os').path.dirname(__file__))
from fits import read
from scipy import ndimage as nd
dec,_=read(sys.argv[1]); mean,_=read(sys.argv[2])
C,H,W=mean.shape
lm=mean.mean(0); ld=dec.mean(0)
g=mean[1]; d=(g[:,:-1]-g[:,1:]); ngm=1.4826*np.median(np.abs(d-np.median(d)))/np.sqrt(2)
thr=50*ngm
mx=nd.maximum_filter(lm,size=5)
pk=[(y,x) for y,x in np.argwhere((lm==mx)&(lm>thr)) if 40<=y<H-40 and 40<=x<W-40]
R=36
yy,xx=np.mgrid[-R:R+1,-R:R+1]; rr=np.hypot(yy,xx)
sel=[]
for i,(y,x) in enumerate(pk):
    if any(j!=i and lm[y2,x2]>0.05*lm[y,x] and np.hypot(y2-y,x2-x)<=20 for j,(y2,x2) in enumerate(pk)): continue
    if lm[y,x]>15000: continue   # saturated / brightest
    sel.append((y,x))
print(len(sel),"stars (peak < 15000)")
for ra,b0,b1 in [(4,6,10),(6,8,12),(8,10,14),(12,16,22),(16,22,30),(24,28,36)]:
    rat=[]
    for y,x in sel:
        cm=lm[y-R:y+R+1,x-R:x+R+1]; cd=ld[y-R:y+R+1,x-R:x+R+1]
        a=rr<=ra; b=(rr>=b0)&(rr<=b1)
        fm=cm[a].sum()-a.sum()*cm[b].mean(); fd=cd[a].sum()-a.sum()*cd[b].mean()
        rat.append(fd/fm)
    print("aperture %2d bg %2d-%2d: median %.4f  mean %.4f"%(ra,b0,b1,np.median(rat),np.mean(rat)))
# mean stack stacked radial profile of these stars, normalised
prof=np.zeros(R); pd=np.zeros(R)
for y,x in sel:
    cm=lm[y-R:y+R+1,x-R:x+R+1]; cd=ld[y-R:y+R+1,x-R:x+R+1]
    bm=cm[(rr>=28)&(rr<=36)].mean(); bd=cd[(rr>=28)&(rr<=36)].mean()
    F=(cm[rr<=24]-bm).sum()
    for k in range(R):
        m=(rr>=k)&(rr<k+1); prof[k]+=(cm[m]-bm).mean()/F; pd[k]+=(cd[m]-bd).mean()/F
print("profile (mean-stack flux units x1e4): r  mean  dec")
for k in range(0,30): print(k, "%.2f %.2f"%(1e4*prof[k]/len(sel),1e4*pd[k]/len(sel)))
